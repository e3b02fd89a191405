"""Flaky-test detection: re-run failing tests, record every attempt per tree SHA, quarantine.

- :mod:`.plugin`: the pytest plugin (re-runs + one JSON line per attempt + quarantine as non-strict xfail).
- :mod:`.analysis` (pure): attempts → flaky / failing tests, the flaky rate, JSON and Markdown.
- :mod:`.runner`: tree SHA, the pytest run, the store (:mod:`trunkline.store.flaky_runs`).
- :mod:`.cli`: ``trunkline flaky [run] [--reruns N] [PYTEST ARGS...]``.
"""
