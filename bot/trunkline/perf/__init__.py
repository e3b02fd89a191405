"""Performance regression between two pytest-benchmark runs.

- :mod:`.stats` (pure): Mann-Whitney U (exact / normal approximation), Cliff's delta, median change.
- :mod:`.compare` (pure): pytest-benchmark JSON → per-benchmark verdicts (faster / slower / unchanged /
  no data), JSON and Markdown.
- :mod:`.cli`: ``trunkline perf compare BASE.json HEAD.json``.
"""
