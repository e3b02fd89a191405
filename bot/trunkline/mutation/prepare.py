"""``python -m trunkline.mutation.prepare``: the first half of ``mutmut run``, run inside a workspace.

It generates the mutants and collects mutmut's stats (which tests reach which functions) exactly as
``mutmut run`` starts, then stops before testing any mutant. The runner needs both before it can
choose mutants: the mutant names (from the ``.meta`` files) for a random sample or to expand the
changed functions' globs, and the stats to find the functions a changed test reaches. The second
half is a plain ``mutmut run NAME...``, which reuses the mutants and stats this leaves in
``mutants/``.

The steps are mutmut 3's own functions from ``mutmut.__main__`` (3.8), called in ``_run``'s order.
"""

from __future__ import annotations

import argparse
import os
import sys

REQUIRED = ("copy_src_dir", "copy_also_copy_files", "setup_source_paths", "store_lines_covered_by_tests",
            "create_mutants", "get_mutant_runner", "collect_or_load_stats", "collect_source_file_mutation_data",
            "_check_test_to_mutant_associations", "CatchOutput")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trunkline.mutation.prepare")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)

    import mutmut.__main__ as mm  # reads [tool.mutmut] from the working directory on import
    from mutmut.mutation.trampoline import set_mutant_under_test

    missing = [name for name in REQUIRED if not hasattr(mm, name)]
    if missing:
        version = getattr(sys.modules.get("mutmut"), "__version__", "?")
        print(f"trunkline: mutmut {version} lacks {', '.join(missing)}; Trunkline needs mutmut 3.8+",
              file=sys.stderr)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
