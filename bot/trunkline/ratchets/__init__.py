"""Quality ratchets: metrics that may only get better (coverage, patch coverage, mutation, latency, custom).

- :mod:`.metrics` reads one number per metric from a tool's JSON file (formats documented there, the
  mutation-score file included);
- :mod:`.baseline` loads and edits ``.github/trunkline-ratchets.yml`` (ruamel.yaml round-trip: comments,
  key order and layout survive an update);
- :mod:`.rules` is the pure semantics (floors/ceilings, ``tolerance``, ``step`` per period toward
  ``target``) and :mod:`.report` the pure table / check-run text;
- :mod:`.cli` is ``trunkline ratchet check|update``; :mod:`.service` and :mod:`.handlers` the bot side
  (the ``trunkline/ratchets`` check run, floors raised after a merge to the default branch).

See ``docs/ratchets.md`` for the user-facing description.
"""
