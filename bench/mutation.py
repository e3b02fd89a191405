"""Mutation bench: a PR-scoped ``trunkline mutation run`` vs a full mutmut run over the same package.

Package: Trunkline's contract-diff policy, rule table, findings model, formats and ``$ref`` resolver
(``trunkline.contracts.diff``: ``policy.py``, ``rules.py``, ``model.py``, ``document.py``, ``format.py``,
``refs.py``; ~610 mutants) with its own unit tests
(``test_contracts_diff_core.py``, ``test_contracts_diff_families.py``, ``test_contracts_diff_cli.py``),
taken from the committed ``HEAD`` (so other people's uncommitted work never changes the figures) into a
throwaway git repository whose ``[tool.mutmut]`` mutates exactly those files. Hypothesis runs
derandomized (``CI=1``), so every mutant's verdict is reproducible.

The "pull request" is a small diff that rewrites one function (``policy.is_breaking``) without changing
its behaviour. Then:

1. scoped: ``trunkline mutation run --base HEAD~1`` — only the changed function's mutants;
2. full:   ``trunkline mutation run --all`` — every mutant of the package.

Each run starts from a fresh workspace; the scoped run is repeated after the full one and the faster
of the two counts (min of repeats: the machine is shared). Prints the wall times (and the CPU time of
each run's process tree, which load on the machine disturbs less), the ratio (goal ≥ 10×) and whether
every mutant of the changed function got the same verdict in both runs (exact mutmut status, and
detected vs not). The last line is JSON. Not part of ``make test``: it takes
several minutes (``make bench`` / the nightly tier run it).

    python bench/mutation.py [--keep] [--jobs N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bot"))

from trunkline.mutation.results import BUCKET, status_of  # noqa: E402
from trunkline.mutation.workspace import rewrite_pyproject  # noqa: E402

PACKAGE = "trunkline.contracts.diff (policy, rules, model, document, format, refs)"
MUTATED = ["policy.py", "rules.py", "model.py", "document.py", "format.py", "refs.py"]
TESTS = ["tests/unit/test_contracts_diff_core.py", "tests/unit/test_contracts_diff_families.py",
         "tests/unit/test_contracts_diff_cli.py"]
CHANGED_FILE = "bot/trunkline/contracts/diff/policy.py"
BEFORE = "    return any(f.level.rank >= threshold for f in findings)\n"
AFTER = ("    for finding in findings:\n"
         "        if finding.level.rank >= threshold:\n"
         "            return True\n"
         "    return False\n")
CHANGED_FUNCTION = "trunkline.contracts.diff.policy.x_is_breaking"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


def build_repo(root: Path) -> Path:
    """A git repository holding HEAD's package, conftest and the package's tests."""
    repo = root / "repo"
    repo.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD", "bot", "tests/conftest.py", *TESTS,
                              "pyproject.toml"], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(repo, filter="data")
    table = {
        "source_paths": ["bot/trunkline"],
        "only_mutate": [f"bot/trunkline/contracts/diff/{name}" for name in MUTATED],
        "pytest_add_cli_args_test_selection": TESTS,
    }
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(rewrite_pyproject(pyproject.read_text(), table))
    (repo / ".gitignore").write_text(".trunkline/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    path = repo / CHANGED_FILE
    text = path.read_text()
    if BEFORE not in text:
        raise SystemExit(f"bench: {CHANGED_FILE} no longer contains the line the bench rewrites; update BEFORE")
    path.write_text(text.replace(BEFORE, AFTER, 1))
    git(repo, "commit", "-qam", "policy.is_breaking: an explicit loop")
    return repo


def mutation_run(repo: Path, workspace: Path, out: Path, *scope: str, jobs: int) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the whole process tree, the mutation JSON) of one run."""
    env = {**os.environ, "CI": "1"}  # derandomized hypothesis: reproducible verdicts
    env.pop("GITHUB_STEP_SUMMARY", None)
    env.pop("TRUNKLINE_BASE_REF", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "trunkline.cli", "mutation", "run", *scope, "--repo", str(repo),
                           "--workspace", str(workspace), "--json", str(out), "--jobs", str(jobs), "--quiet"],
                          env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # every descendant is reaped by its parent
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        raise SystemExit(f"bench: mutation run {' '.join(scope)} failed (exit {proc.returncode})")
    print(proc.stdout.strip().splitlines()[0])
    return elapsed, cpu, json.loads(out.read_text())


def in_scope_statuses(workspace: Path) -> dict[str, str]:
    return {n: s for n, s in statuses(workspace).items() if s != "not checked"}


def statuses(workspace: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for meta in (workspace / "mutants").rglob("*.py.meta"):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            found[name] = status_of(code)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository and workspaces")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="trunkline-bench-mutation-"))
    try:
        repo = build_repo(root)
        print(f"bench: package {PACKAGE}; change: {CHANGED_FUNCTION}; jobs {args.jobs}; in {root}")
        # scoped, full, scoped again: the faster scoped run counts (the usual min-of-repeats against a
        # machine shared with other work); both scoped runs must give the same verdicts
        first_seconds, first_cpu, scoped = mutation_run(repo, root / "ws-scoped", root / "scoped.json",
                                                        "--base", "HEAD~1", jobs=args.jobs)
        first_statuses = in_scope_statuses(root / "ws-scoped")
        full_seconds, full_cpu, full = mutation_run(repo, root / "ws-full", root / "full.json", "--all",
                                                    jobs=args.jobs)
        second_seconds, second_cpu, again = mutation_run(repo, root / "ws-scoped", root / "scoped.json",
                                                         "--base", "HEAD~1", jobs=args.jobs)
        in_scope = in_scope_statuses(root / "ws-scoped")
        scoped_seconds, scoped_cpu = min(first_seconds, second_seconds), min(first_cpu, second_cpu)
        everything = statuses(root / "ws-full")
        changed = [f"{f['module']}.{f['function']}" for f in scoped["functions"]]
        repeatable = in_scope == first_statuses and again["score"] == scoped["score"]
        exact = all(everything.get(name) == status for name, status in in_scope.items())
        detected = ("killed", "timeout")
        detected_same = all((BUCKET.get(everything.get(name, ""), "?") in detected) == (BUCKET[status] in detected)
                            for name, status in in_scope.items())
        only_changed = bool(in_scope) and all(name.startswith(CHANGED_FUNCTION + "__mutmut_") for name in in_scope)
        full_fn = next((f for f in full["functions"] if f"{f['module']}.x_{f['function']}" == CHANGED_FUNCTION), None)
        score_same = full_fn is not None and full_fn["score"] == scoped["score"]
        agree = bool(in_scope) and exact and detected_same and only_changed and score_same and repeatable
        ratio = full_seconds / scoped_seconds if scoped_seconds else 0.0
        cpu_ratio = full_cpu / scoped_cpu if scoped_cpu else 0.0
        print(f"scoped: {first_seconds:.1f} s / {second_seconds:.1f} s wall ({scoped_cpu:.0f} s CPU), "
              f"{len(in_scope)} mutants, score {scoped['score']}; full: {full_seconds:.1f} s wall "
              f"({full_cpu:.0f} s CPU), {full['total']} mutants, score {full['score']}; "
              f"ratio {ratio:.1f}x wall, {cpu_ratio:.1f}x CPU")
        counts = {s: list(in_scope.values()).count(s) for s in sorted(set(in_scope.values()))}
        print(f"verdicts on {CHANGED_FUNCTION}: {counts}; same per mutant in the full run: {exact}; "
              f"function score scoped {scoped['score']} vs full {full_fn and full_fn['score']}; "
              f"both scoped runs agree: {repeatable}")
        result = {
            "bench": "mutation", "package": PACKAGE, "full_seconds": round(full_seconds, 1),
            "scoped_seconds": round(scoped_seconds, 1), "ratio": round(ratio, 1),
            "full_cpu_seconds": round(full_cpu, 1), "scoped_cpu_seconds": round(scoped_cpu, 1),
            "cpu_ratio": round(cpu_ratio, 1),
            "changed_functions": len(changed), "scoped_mutants": len(in_scope), "full_mutants": full["total"],
            "verdicts_agree": agree, "goals": {"ratio": ">=10", "verdicts_agree": True},
            "pass": ratio >= 10 and agree,
        }
        print(json.dumps(result))
        return 0 if result["pass"] else 1
    finally:
        if args.keep:
            print(f"bench: kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
