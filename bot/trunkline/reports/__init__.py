"""The sticky "Nightly report" issue: nightly / weekly results -> one issue per repository.

``results`` reads the result files, ``report`` holds the state, the Markdown and the plan (pure),
``github_io`` fetches the ``trunkline-report`` artifact and writes the issue, ``handlers`` reacts to
``workflow_run`` completed, ``cli`` is ``trunkline report nightly --results DIR``.
"""
