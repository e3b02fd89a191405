"""``trunkline mutation run``: choose mutants, run mutmut on them, read its verdicts (shell).

Three scopes:

``pr``      (``--base REV``) the functions whose lines changed since the merge base of REV and HEAD
            (working tree included), plus — when test code changed — every function the changed
            tests reach according to mutmut's stats. Only changed source files are mutated.
``sample``  (``--sample N``) N mutants drawn at random from all of them, with a seed that is printed
            (and can be given back with ``--seed`` to repeat the draw).
``full``    (``--all``) every mutant.

Steps: build a fresh workspace (:mod:`.workspace`); start the one mutmut process of the run there
(:mod:`.prepare`), which generates the mutants and collects mutmut's stats, then waits; pick the mutant
names from its ``.meta`` files and stats and hand them over; it tests them (mutmut's own ``run``) while
we show progress from the ``.meta`` files; finally read the verdicts from those files — never from
mutmut's exit status, which is 0 whether or not mutants survive.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import prepare as prepare_module
from .diffs import mutant_diff
from .report import MutationReport, survivors_of
from .results import Counts, Verdict, by_function, verdicts_from_meta
from .scope import (
    FunctionRef,
    affected_tests,
    changed_functions,
    expand_globs,
    functions_reached,
    is_test_path,
    mangled_of,
    parse_unified_diff,
    readable,
    split_mangled,
)
from .workspace import MutmutConfig, prepare_workspace, read_config


class RunError(RuntimeError):
    """The run could not produce verdicts (message for people; ``log`` holds mutmut's output tail)."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


@dataclass
class RunOptions:
    repo: Path
    workspace: Path
    scope: str  # pr | sample | full
    base: str | None = None
    sample: int | None = None
    seed: int | None = None
    jobs: int = 2


class Progress:
    """What a run reports while it works (the CLI draws it with rich; tests record it)."""

    def phase(self, text: str) -> None:  # pragma: no cover - interface
        pass

    def advance(self, done: int, total: int) -> None:  # pragma: no cover - interface
        pass

    def note(self, text: str) -> None:  # pragma: no cover - interface
        pass


# --- git ----------------------------------------------------------------------------------------------

def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-c", "core.quotePath=false", *args], cwd=repo, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise RunError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def merge_base(repo: Path, base: str) -> str:
    try:
        git(repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except RunError:
        raise RunError(f"--base {base}: no such commit or branch in {repo} (fetch it first, e.g. "
                       f"`git fetch origin {base.removeprefix('origin/')}`)") from None
    try:
        return git(repo, "merge-base", base, "HEAD").strip()
    except RunError:
        return git(repo, "rev-parse", f"{base}^{{commit}}").strip()  # unrelated histories: diff against base


def changed_since(repo: Path, base_sha: str, exclude: str | None = None) -> str:
    """``git diff --unified=0`` from ``base_sha`` to the working tree, plus untracked Python files.

    ``exclude``: a repository-relative folder whose untracked files do not count (the workspace).
    """
    text = git(repo, "diff", "--unified=0", "--no-color", "--no-ext-diff", "--find-renames", base_sha, "--")
    for path in git(repo, "ls-files", "--others", "--exclude-standard", "--", "*.py").splitlines():
        if exclude and (path + "/").startswith(exclude.rstrip("/") + "/"):
            continue
        try:
            lines = (repo / path).read_text(encoding="utf-8").count("\n") or 1
        except (OSError, UnicodeDecodeError):
            continue
        text += f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{lines} @@\n"
    return text


# --- reading mutmut's files ---------------------------------------------------------------------------

def read_verdicts(workspace: Path) -> list[Verdict]:
    mutants = workspace / "mutants"
    verdicts: list[Verdict] = []
    for meta in sorted(mutants.rglob("*.py.meta")):
        rel = str(meta.relative_to(mutants))[: -len(".meta")]
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # being rewritten right now; the next read sees it
        verdicts.extend(verdicts_from_meta(rel, data))
    return verdicts


def read_stats(workspace: Path) -> dict[str, list[str]]:
    path = workspace / "mutants" / "mutmut-stats.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"mutmut left no readable stats ({path}: {exc})") from exc
    tests = data.get("tests_by_mangled_function_name")
    if not isinstance(tests, dict):
        raise RunError(f"{path}: no tests_by_mangled_function_name (not mutmut 3 stats?)")
    return {str(k): [str(t) for t in v] for k, v in tests.items()}


def known_tests(stats: Mapping[str, Iterable[str]], workspace: Path) -> set[str]:
    tests = {t for hit_by in stats.values() for t in hit_by}
    try:
        data = json.loads((workspace / "mutants" / "mutmut-stats.json").read_text(encoding="utf-8"))
        tests.update(str(t) for t in data.get("duration_by_test", {}))
    except (OSError, json.JSONDecodeError):
        pass
    return tests


def log_tail(path: Path, lines: int = 40) -> str:
    """The end of a mutmut log, with its spinner redraws (``\\r``) collapsed."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")  # bytes: universal newlines would eat "\r"
    except OSError:
        return ""
    # keep only the last redraw of each spinner line
    cleaned = [line.split("\r")[-1].rstrip() for line in text.split("\n")]
    return "\n".join([line for line in cleaned if line][-lines:])


# --- running mutmut -----------------------------------------------------------------------------------

DRIVER = ".trunkline-driver.py"


class MutmutSession:
    """The one mutmut process of a run (:mod:`.prepare`): prepared, then told which mutants to test."""

    def __init__(self, workspace: Path, jobs: int) -> None:
        self.workspace = workspace
        self.log_path = workspace / "mutmut.log"
        driver = workspace / DRIVER
        shutil.copyfile(prepare_module.__file__, driver)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        # a copy run as a script, not -m trunkline...: importing trunkline in the mutmut process would
        # shadow the mutated copy when Trunkline tests itself
        self.proc = subprocess.Popen([sys.executable, DRIVER, "--max-children", str(jobs)], cwd=workspace,
                                     stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_prepared(self, interval: float = 0.2) -> None:
        marker = self.workspace / prepare_module.PREPARED
        while not marker.exists():
            code = self.proc.poll()
            if code is not None:
                raise RunError(f"mutmut could not prepare the run (exit {code}): the tests must pass on the "
                               "unmutated code and import it by its package name", log_tail(self.log_path))
            time.sleep(interval)

    def select(self, mode: str, names: Iterable[str] = ()) -> None:
        target = self.workspace / prepare_module.SELECTION
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps({"mode": mode, "names": sorted(names)}), encoding="utf-8")
        tmp.replace(target)  # atomic: the driver never reads half a selection

    def finish(self, tick: Callable[[], None] | None = None, interval: float = 0.5) -> None:
        while True:
            try:
                code = self.proc.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                if tick is not None:
                    tick()
        if tick is not None:
            tick()
        if code != 0:
            raise RunError(f"mutmut run failed (exit {code})", log_tail(self.log_path))

    def stop(self) -> None:
        """Stop mutmut if it still runs (we were interrupted): it stops its workers on SIGINT."""
        if self.proc.poll() is None:
            import signal

            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def progress_tick(workspace: Path, wanted: set[str], total: int, progress: Progress) -> Callable[[], None]:
    def tick() -> None:
        verdicts = read_verdicts(workspace)
        done = sum(1 for v in verdicts if (not wanted or v.name in wanted) and v.bucket != "pending")
        progress.advance(done, total)

    return tick


# --- choosing mutants ---------------------------------------------------------------------------------

@dataclass
class Scope:
    """What a pull-request run covers, computed before mutmut runs."""

    base_sha: str
    functions: list[FunctionRef] = field(default_factory=list)
    changed_sources: list[str] = field(default_factory=list)  # repository paths of changed source files
    changed_tests: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def pr_scope(repo: Path, config: MutmutConfig, base: str, workspace: Path | None = None) -> Scope:
    base_sha = merge_base(repo, base)
    exclude = None
    if workspace is not None:
        try:
            exclude = workspace.resolve().relative_to(repo.resolve()).as_posix()
        except ValueError:
            pass
    changes = parse_unified_diff(changed_since(repo, base_sha, exclude))
    test_roots = config.test_roots()
    sources: dict[str, str] = {}
    scope = Scope(base_sha)
    for change in changes:
        if not change.path.endswith(".py") and not change.old_path.endswith(".py"):
            continue
        if change.path and config.in_sources(change.path):
            try:
                sources[change.path] = (repo / change.path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                scope.notes.append(f"{change.path}: unreadable ({exc}); skipped")
                continue
            scope.changed_sources.append(change.path)
        elif is_test_path(change.any_path, test_roots):
            scope.changed_tests.append(change.any_path)
    scope.functions, notes = changed_functions(changes, sources, config.import_root)
    scope.notes += notes
    return scope


def draw_sample(names: Iterable[str], size: int, seed: int) -> list[str]:
    """``size`` names drawn without replacement; the same seed and names give the same draw."""
    ordered = sorted(set(names))
    if size >= len(ordered):
        return ordered
    return sorted(random.Random(seed).sample(ordered, size))


# --- the run ------------------------------------------------------------------------------------------

def choose(options: RunOptions, scope: Scope | None, workspace: Path,
           progress: Progress) -> tuple[list[str], int | None, list[str], list[str]]:
    """(mutant names, sample seed, changed functions without mutants, notes) once mutmut has prepared."""
    all_names = [v.name for v in read_verdicts(workspace)]
    if not all_names and options.scope != "pr":
        raise RunError("mutmut generated no mutants (check source_paths / only_mutate in the mutmut config)")
    notes = list(scope.notes) if scope else []
    if options.scope == "sample":
        seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
        progress.note(f"sample seed: {seed} (repeat this draw with --seed {seed})")
        return draw_sample(all_names, options.sample or 0, seed), seed, [], notes
    if options.scope == "full":
        return [], None, [], notes
    assert scope is not None
    wanted = {fn.mangled: fn for fn in scope.functions}
    if scope.changed_tests:
        stats = read_stats(workspace)
        tests = affected_tests(scope.changed_tests, known_tests(stats, workspace))
        reached = functions_reached(stats, tests)
        for mangled in sorted(reached - set(wanted)):
            module, key = split_mangled(mangled)
            wanted[mangled] = FunctionRef(module, key, readable(key), "")
        notes.append(f"{len(scope.changed_tests)} changed test files: {len(tests)} tests, reaching "
                     f"{len(reached)} functions")
    # explicit names, not globs: mutmut picks the clean-run tests of an explicit name from its stats,
    # while a glob does not match its stats keys and would re-run the whole suite first
    names = expand_globs([fn.glob for fn in wanted.values()], all_names)
    with_mutants = {mangled_of(n) for n in names}
    unmutated = [f"{fn.module}.{fn.qualname}" for fn in scope.functions if fn.mangled not in with_mutants]
    return names, None, unmutated, notes


def execute(options: RunOptions, progress: Progress | None = None) -> MutationReport:
    progress = progress or Progress()
    started = time.monotonic()
    repo = options.repo.resolve()
    config = read_config(repo)  # ConfigError: the caller's usage error

    scope: Scope | None = None
    only_mutate: list[str] | None = None
    if options.scope == "pr":
        if not options.base:
            raise RunError("a pull-request run needs --base REV")
        scope = pr_scope(repo, config, options.base, options.workspace)
        if not scope.functions and not scope.changed_tests:
            report = MutationReport("pr", Counts(), [], [], base=options.base, base_sha=scope.base_sha,
                                    notes=scope.notes + ["No changed function and no changed test: nothing to mutate."])
            report.duration_seconds = time.monotonic() - started
            return report
        # a changed test may reach any function, so then every file is mutated (and has stats)
        only_mutate = None if scope.changed_tests else scope.changed_sources
        for fn in scope.functions:
            progress.note(f"changed: {fn.path} {fn.qualname}")

    progress.phase(f"preparing workspace {options.workspace}")
    workspace = prepare_workspace(repo, options.workspace, config, only_mutate)
    progress.phase("generating mutants and collecting mutmut's stats (one run of the tests)")
    session = MutmutSession(workspace, options.jobs)
    try:
        session.wait_prepared()
        names, seed, unmutated, notes = choose(options, scope, workspace, progress)
        if options.scope == "full":
            total = len(read_verdicts(workspace))
            session.select("all")
        elif names:
            total = len(names)
            session.select("names", names)
        else:
            total = 0
            session.select("none")
        if total:
            progress.phase(f"testing {total} mutants")
            progress.advance(0, total)
        session.finish(progress_tick(workspace, set(names), total, progress) if total else None)
    finally:
        session.stop()

    verdicts = read_verdicts(workspace)
    if options.scope != "full":
        chosen = set(names)
        verdicts = [v for v in verdicts if v.name in chosen]
    functions = by_function(verdicts, {v.path: config.repo_path(v.path) for v in verdicts})
    diffs = survivor_diffs(workspace, verdicts, config)
    report = MutationReport(
        options.scope, Counts.of(verdicts), functions, survivors_of(functions, diffs),
        base=options.base if options.scope == "pr" else None, base_sha=scope.base_sha if scope else None,
        seed=seed, sample=len(names) if options.scope == "sample" else None, unmutated=unmutated, notes=notes)
    report.duration_seconds = time.monotonic() - started
    return report


def survivor_diffs(workspace: Path, verdicts: Iterable[Verdict], config: MutmutConfig) -> dict[str, str | None]:
    diffs: dict[str, str | None] = {}
    cache: dict[str, tuple[str, Any]] = {}
    for verdict in verdicts:
        if verdict.status != "survived":
            continue
        if verdict.path not in cache:
            generated = workspace / "mutants" / verdict.path
            try:
                text = generated.read_text(encoding="utf-8")
            except OSError:
                text = ""
            try:
                index = json.loads((workspace / "mutants" / (verdict.path + ".spans")).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                index = None
            cache[verdict.path] = (text, index)
        text, index = cache[verdict.path]
        diffs[verdict.name] = mutant_diff(verdict.name, text, index, config.repo_path(verdict.path))
    return diffs


__all__ = ["Progress", "RunError", "RunOptions", "Scope", "draw_sample", "execute", "pr_scope", "read_verdicts"]
