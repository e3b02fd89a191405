"""Mutation testing fast enough for a pull-request gate, on mutmut 3.

- :mod:`.scope` (pure): unified diff → changed functions → mutmut mutant-name globs; changed tests →
  the functions they reach (mutmut's stats).
- :mod:`.results` (pure): mutmut's ``.meta`` verdicts → Stryker's mutation score.
- :mod:`.report` (pure): the mutation-score JSON (read by the ``mutation`` ratchet) and Markdown.
- :mod:`.diffs` (pure): a surviving mutant's diff from mutmut's generated file.
- :mod:`.workspace`: the fresh mutmut project a run works in (any layout, Trunkline's ``bot/`` too).
- :mod:`.prepare`: mutant generation + stats, run inside the workspace; :mod:`.runner` drives it all.
- :mod:`.cli`: ``trunkline mutation run [--base REV | --sample N | --all]``.
"""
