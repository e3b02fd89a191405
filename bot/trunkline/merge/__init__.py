"""Auto-merge: a merge queue per repository and base branch that never merges an untested SHA.

* :mod:`.model` — plain data (snapshot, policy, condition, decision);
* :mod:`.decide` — the pure decision ``decide(snapshot, policy) -> Decision``;
* :mod:`.queue` — pure queue ordering (priority, request time, the single update slot);
* :mod:`.report` — the ``trunkline/merge`` check run (pure);
* :mod:`.fetch`, :mod:`.execute`, :mod:`.cache` — the REST shell (reads, guarded writes, caches);
* :mod:`.service` — the engine and the API used by commands (``request_merge``, ``cancel_merge``,
  ``evaluate_pr``, ``after_own_check``);
* :mod:`.handlers` — the webhook events that trigger an evaluation.
"""
