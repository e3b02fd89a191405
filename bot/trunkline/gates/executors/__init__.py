"""Where a tier runs: :mod:`.local` (a temporary checkout on the worker) or :mod:`.actions`
(a dispatched GitHub Actions workflow)."""
