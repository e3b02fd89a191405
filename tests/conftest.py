"""Suite-wide settings. Area fixtures live in each folder's own conftest."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from trunkline.corpus import corpus_dir

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_report_header(config: pytest.Config) -> str:
    return f"trunkline corpus: {corpus_dir()} ({'found' if corpus_dir().exists() else 'MISSING'})"
