"""``make demo`` must keep working: run it as a user would and require every step to pass."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from trunkline.demo.run import run_demo

pytestmark = pytest.mark.slow


def test_demo_passes_every_step(tmp_path: Path) -> None:
    out = io.StringIO()
    code = run_demo(tmp_path, Console(file=out, width=200))
    text = out.getvalue()
    assert code == 0, text
    assert "All demo steps passed." in text
    assert "annotation at .github/trunkline.yml:4:" in text
