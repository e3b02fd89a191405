"""The mutmut process of a run, inside a workspace: prepare, hand over, then test the chosen mutants.

Run by :mod:`trunkline.mutation.runner` as ``python .trunkline-driver.py --max-children N`` in the
workspace (a copy of this file — never ``-m trunkline...``: importing Trunkline here would shadow the
mutated copy when Trunkline tests itself). It dies with the runner (``PR_SET_PDEATHSIG`` on Linux,
plus a parent check while it waits). It does what ``mutmut run`` does, in one process, with a pause in
the middle:

1. generate the mutants and collect mutmut's stats (which tests reach which functions) — the first
   steps of mutmut's ``_run``;
2. write ``.trunkline-prepared`` and wait for ``.trunkline-selection.json``, which the runner writes
   once it has read the ``.meta`` files and the stats: ``{"mode": "names", "names": [...]}``,
   ``{"mode": "all"}`` or ``{"mode": "none"}``;
3. run mutmut's ``_run`` on that selection. The test modules, conftest and the package are already
   imported from step 1, so nothing is loaded twice; ``_run`` finds the mutants and stats in place.

The steps are mutmut 3.8's own functions from ``mutmut.__main__``, called in ``_run``'s order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

REQUIRED = ("copy_src_dir", "copy_also_copy_files", "setup_source_paths", "store_lines_covered_by_tests",
            "create_mutants", "get_mutant_runner", "collect_or_load_stats", "collect_source_file_mutation_data",
            "_check_test_to_mutant_associations", "CatchOutput", "_run")
PREPARED = ".trunkline-prepared"
SELECTION = ".trunkline-selection.json"


def wait_for_selection(timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(SELECTION):
            with open(SELECTION, encoding="utf-8") as f:
                return json.load(f)
        if os.getppid() == 1:  # the runner is gone: nobody will ever choose
            break
        time.sleep(0.05)
    raise SystemExit(f"trunkline: no mutant selection ({SELECTION}) arrived")


def die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the runner dies, so a killed run leaves no mutmut behind."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    die_with_parent()
    parser = argparse.ArgumentParser(prog="trunkline mutation driver")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--selection-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)

    import mutmut.__main__ as mm  # reads [tool.mutmut] from the working directory on import
    from mutmut.mutation.trampoline import set_mutant_under_test

    missing = [name for name in REQUIRED if not hasattr(mm, name)]
    if missing:
        print(f"trunkline: this mutmut lacks {', '.join(missing)}; Trunkline needs mutmut 3.8+", file=sys.stderr)
        return 3

    set_mutant_under_test("mutant_generation")
    os.makedirs("mutants", exist_ok=True)
    with mm.CatchOutput(spinner_title="Generating mutants"):
        mm.copy_src_dir()
        mm.copy_also_copy_files()
        mm.setup_source_paths()
        mm.store_lines_covered_by_tests()
        stats = mm.create_mutants(args.max_children)
    print(f"generated: {stats.mutated} files mutated, {stats.ignored} copied, {stats.unmodified} unchanged",
          flush=True)

    runner = mm.get_mutant_runner(args.max_children)
    mm.collect_or_load_stats(runner, apply_config_invalidation=True)  # exits 1 when the tests fail
    _, data_by_path = mm.collect_source_file_mutation_data(mutant_names=())
    mm._check_test_to_mutant_associations(data_by_path)  # exits 1 when module names do not line up
    total = sum(len(m.exit_code_by_key) for m in data_by_path.values())
    print(f"prepared: {total} mutants in {len(data_by_path)} files", flush=True)
    with open(PREPARED + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"mutants": total}, f)
    os.replace(PREPARED + ".tmp", PREPARED)

    selection = wait_for_selection(args.selection_timeout)
    mode = selection.get("mode")
    if mode == "none":
        return 0
    names = [str(n) for n in selection.get("names", [])] if mode == "names" else []
    if mode == "names" and not names:
        return 0
    mm._run(names, args.max_children)  # all mutants without names; exits non-zero on a broken run
    return 0


if __name__ == "__main__":
    sys.exit(main())
