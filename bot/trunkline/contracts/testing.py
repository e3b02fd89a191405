"""``trunkline contracts test``: schemathesis against a running service, in tiers, with a baseline ratchet.

Tiers (the phases schemathesis runs):

- ``0``       — ``examples`` + ``coverage``: the contract's own examples and a deterministic, bounded
  walk over boundary and invalid values; fast enough for every push.
- ``1``       — adds ``fuzzing`` with ``tests.tier1_examples`` examples per operation (the PR gate).
- ``nightly`` — adds ``stateful`` (sequences linked by the contract) with ``tests.nightly_examples``.

``--baseline FILE`` is schemathesis' own baseline (``schemathesis run --baseline``): failures recorded
in the file pass, new ones fail the run, so a service with known problems can adopt contract tests
without fixing everything first and can never get worse. When the file does not exist yet, the run
records the failures it finds into it (and still fails, so accepting them takes a second, deliberate
run). ``--update-baseline`` folds a run's new failures in; a plain run never edits the file.

The service is either given (``--url`` / ``tests.url``) or started with ``tests.command`` and waited
for; a started service is stopped afterwards (its whole process group).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trunkline.contracts.config import ContractsSection, ContractTestsSection, source_kind
from trunkline.gates.runner import tree_members

log = logging.getLogger(__name__)

TIER_PHASES: dict[str, tuple[str, ...]] = {
    "0": ("examples", "coverage"),
    "1": ("examples", "coverage", "fuzzing"),
    "nightly": ("examples", "coverage", "fuzzing", "stateful"),
}


class ContractTestError(Exception):
    """The run could not start (no URL, no OpenAPI source, service did not come up...)."""


@dataclass(frozen=True)
class TestPlan:
    schema: Path
    url: str
    tier: str
    phases: tuple[str, ...]
    max_examples: int | None
    baseline: Path | None = None
    update_baseline: bool = False
    junit: Path | None = None
    seed: int | None = None
    max_time: int | None = None
    hooks: str | None = None
    start_command: str | None = None
    ready_timeout: int = 30
    extra: tuple[str, ...] = field(default=())

    def command(self) -> list[str]:
        """The schemathesis command line (pure)."""
        cmd = [sys.executable, "-m", "schemathesis.cli", "run", str(self.schema), "--url", self.url,
               "--phases", ",".join(self.phases), "--no-color"]
        if self.max_examples is not None:
            cmd += ["--max-examples", str(self.max_examples)]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        if self.max_time is not None:
            cmd += ["--max-time", str(self.max_time)]
        if self.baseline is not None:
            cmd += ["--baseline", str(self.baseline)]
            if self.update_baseline:
                cmd.append("--baseline-update")
        if self.junit is not None:
            cmd += ["--report", "junit", "--report-junit-path", str(self.junit)]
        return [*cmd, *self.extra]

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        if self.hooks:
            env["SCHEMATHESIS_HOOKS"] = self.hooks
        return env


def make_plan(root: Path, contracts: ContractsSection, *, tier: str = "0", url: str | None = None,
              source: str | None = None, baseline: str | None = None, update_baseline: bool = False,
              junit: str | None = None, examples: int | None = None, seed: int | None = None,
              max_time: int | None = None, read: bool = True) -> TestPlan:
    """Combine command-line choices with ``contracts.tests`` (pure apart from reading the source's head)."""
    if tier not in TIER_PHASES:
        raise ContractTestError(f"unknown tier {tier!r}: use 0, 1 or nightly")
    settings: ContractTestsSection = contracts.tests
    schema = _schema_source(root, contracts, source or settings.source, read)
    start = None
    if url is None:
        url = settings.url
        start = settings.command
    if url is None:
        raise ContractTestError("no service to test: pass --url URL or set contracts.tests.url "
                                "(and contracts.tests.command to start it)")
    if examples is None:
        examples = {"0": None, "1": settings.tier1_examples, "nightly": settings.nightly_examples}[tier]
    baseline_path = baseline or settings.baseline
    return TestPlan(
        schema=schema, url=url.rstrip("/"), tier=tier, phases=TIER_PHASES[tier], max_examples=examples,
        baseline=_under(root, baseline_path) if baseline_path else None, update_baseline=update_baseline,
        junit=Path(junit).resolve() if junit else None, seed=seed, max_time=max_time, hooks=settings.hooks,
        start_command=start, ready_timeout=settings.ready_timeout)


def _under(root: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else (root / candidate)


def _schema_source(root: Path, contracts: ContractsSection, wanted: str | None, read: bool) -> Path:
    if wanted is not None:
        return _under(root, wanted)
    for src in contracts.sources:
        path = root / src.path
        content = path.read_bytes() if read and path.is_file() else None
        try:
            if source_kind(src, content) == "openapi":
                return path
        except Exception:  # noqa: BLE001 - undetectable kind: not an OpenAPI source we can test
            continue
    raise ContractTestError("no OpenAPI contract to test: pass --source or add an openapi source to "
                            "contracts.sources (schemathesis tests HTTP APIs)")


# --- running ---------------------------------------------------------------------------------

def wait_until_up(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Return once ``url`` answers HTTP (any status); raise if it does not in time or ``proc`` exits."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ContractTestError(f"the service command exited with {proc.returncode} before answering")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise ContractTestError(f"{url} did not answer within {timeout:.0f} s")


def start_service(command: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(command, shell=True, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,  # noqa: S602
                                start_new_session=True)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies do not count: they hold no port, and in a
    container nobody may ever reap an orphan)."""
    return bool(tree_members([pgid], None))


def stop_service(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Stop the service command's whole process group and wait until every process in it is gone.

    ``proc`` is the shell running the command; the service may be its child, still shutting down after
    the shell exited, so waiting for ``proc`` alone could return while the port still answers. SIGTERM,
    then SIGKILL for what is left after ``timeout`` s."""
    for sig, grace in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        until = time.monotonic() + grace
        while True:
            proc.poll()  # reap the shell as soon as it exits
            if not _group_alive(proc.pid):
                break
            if time.monotonic() >= until:
                break
            time.sleep(0.05)
        if not _group_alive(proc.pid):
            break
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log.warning("the service command (pid %d) did not exit", proc.pid)


def run(plan: TestPlan, root: Path, *, stdout: int | None = None) -> int:
    """Run schemathesis for ``plan`` (starting the service first when the plan says so); its exit code."""
    if not plan.schema.is_file():
        raise ContractTestError(f"{plan.schema} does not exist")
    if plan.junit is not None:
        plan.junit.parent.mkdir(parents=True, exist_ok=True)
    if plan.baseline is not None:
        plan.baseline.parent.mkdir(parents=True, exist_ok=True)
    proc = None
    try:
        if plan.start_command:
            proc = start_service(plan.start_command, root, root / ".trunkline" / "contract-test-service.log")
            wait_until_up(plan.url, plan.ready_timeout, proc)
        # schemathesis keeps a crash cache in ./.schemathesis; run it under .trunkline (git-ignored) so a
        # checkout stays clean. It still finds a schemathesis.toml in the repository (searched upwards).
        workdir = root / ".trunkline" / "contract-tests"
        workdir.mkdir(parents=True, exist_ok=True)
        completed = subprocess.run(plan.command(), cwd=workdir, env=plan.env(), stdout=stdout, check=False)
        return completed.returncode
    finally:
        if proc is not None:
            stop_service(proc)


def run_from_cli(root: Path, contracts: ContractsSection, args: argparse.Namespace) -> int:
    try:
        plan = make_plan(root, contracts, tier=args.tier, url=args.url, source=args.source,
                         baseline=args.baseline, update_baseline=args.update_baseline, junit=args.junit,
                         examples=args.examples, seed=args.seed, max_time=args.max_time)
        print(f"contract tests, tier {plan.tier} ({'+'.join(plan.phases)}): {plan.schema.name} against "
              f"{plan.url}" + (f", baseline {plan.baseline}" if plan.baseline else ""), flush=True)
        print("$ " + shlex.join(_shown(plan.command())), flush=True)
        return run(plan, root)
    except ContractTestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _shown(cmd: Sequence[str]) -> list[str]:
    return ["schemathesis", *cmd[3:]] if len(cmd) > 3 and cmd[2] == "schemathesis.cli" else list(cmd)
