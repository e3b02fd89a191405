"""Commands in pull-request and issue comments (``/merge``, ``/hold reason``...).

* :mod:`.parser` — finds commands in a comment's Markdown (pure);
* :mod:`.registry` — one module per command under :mod:`.builtin`, discovered automatically;
* :mod:`.permissions` — who may run what (GitHub's collaborator permission API, config overrides);
* :mod:`.feedback` — reactions and the single reply per comment (pure);
* :mod:`.handler` — the ``issue_comment`` handler tying it together.
"""
