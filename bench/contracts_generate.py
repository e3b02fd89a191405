"""Benchmark: `trunkline contracts generate --check` on Trunkline's own contracts (the tier-0 fast path).

Goal: unchanged contracts are checked by hash, without running a generator, in < 0.3 s. Measured:

- ``check_s``: the command itself in a warm process (config parse + hashing every contract, ``$ref``
  file and generated file), median of 30 runs; generators are booby-trapped so a run that would
  start one fails the benchmark;
- ``cli_s``: the same command as a fresh ``trunkline`` process (median of 5), and ``cli_startup_s``,
  what ``trunkline --help`` costs (interpreter start plus every command group, imported eagerly by
  ``trunkline.cli``), for context;
- ``regenerate_s``: for comparison, what running the generators costs (``--force``, one run).

The last line is JSON with ``"pass"`` (the goal applies to ``check_s``).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 0.3


def _wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    from trunkline.cli import main as cli
    from trunkline.contracts import generate as gen
    from trunkline.contracts.config import load_local_config

    def trap(*_args, **_kwargs):
        raise RuntimeError("a generator ran on the --check fast path")

    real = gen.generate_body
    gen.generate_body = trap
    times = []
    try:
        for _ in range(30):
            out = io.StringIO()
            started = time.perf_counter()
            with contextlib.redirect_stdout(out):
                code = cli(["contracts", "generate", "--check", "--root", str(REPO)])
            times.append(time.perf_counter() - started)
            if code != 0:
                print(out.getvalue())
                raise SystemExit("Trunkline's own generated files are not up to date: run `trunkline contracts generate`")
    finally:
        gen.generate_body = real
    check_s = statistics.median(times)
    files = len(gen.drift(load_local_config(REPO).contracts, gen.local_reader(REPO)))

    exe = str(Path(sys.executable).with_name("trunkline"))
    cli_s = _wall([exe, "contracts", "generate", "--check"], 5)
    cli_startup_s = _wall([exe, "--help"], 5)

    with tempfile.TemporaryDirectory() as tmp:  # regenerate a copy, so the checkout is never touched
        copy = Path(tmp) / "repo"
        for rel in (".github", "contracts"):
            shutil.copytree(REPO / rel, copy / rel)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            cli(["contracts", "generate", "--force", "--root", str(copy)])
        regenerate_s = time.perf_counter() - started

    result = {
        "bench": "contracts_generate_check", "generated_files": files, "check_s": round(check_s, 4),
        "check_max_s": round(max(times), 4), "cli_s": round(cli_s, 3), "cli_startup_s": round(cli_startup_s, 3),
        "regenerate_s": round(regenerate_s, 3), "goal_s": GOAL_S, "pass": check_s < GOAL_S,
    }
    print(f"--check on {files} generated files: {check_s * 1000:.1f} ms in-process (max {max(times) * 1000:.1f} ms); "
          f"fresh CLI {cli_s:.2f} s (`trunkline --help` alone: {cli_startup_s:.2f} s); regenerating {regenerate_s:.2f} s")
    print(json.dumps(result))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
