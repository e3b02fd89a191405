"""Widgets: the example service of Trunkline's canary deploys (docs/deploy.md).

Run it from the repository root: ``python -m uvicorn examples.service.app:app --port 8000``.
"""

VERSION = "1.0.0"
