"""Child process for ``/generate``: ``python -m trunkline.commands.builtin._generate_child ROOT``.

Reads the ``TrunklineConfig`` as JSON on stdin, runs the contracts engine on ROOT, and prints one JSON
line ``{"ok": bool, "error": str}``. A separate process because generators are not made for a bot's
worker threads (datamodel-code-generator installs signal handlers, keeps module-level caches), and so
a hung or crashing generator cannot take a worker down with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trunkline.config.model import TrunklineConfig


def main(argv: list[str]) -> int:
    from trunkline.commands.builtin.generate import ENGINE
    from trunkline.commands.invocation import load_engine

    root = Path(argv[0])
    config = TrunklineConfig.model_validate_json(sys.stdin.read())
    regenerate = load_engine(*ENGINE)
    if regenerate is None:
        print(json.dumps({"ok": False, "error": f"{ENGINE[0]} is not installed"}))
        return 1
    try:
        regenerate(root, config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which replies with it
        print(json.dumps({"ok": False, "error": str(exc) or type(exc).__name__}))
        return 1
    print(json.dumps({"ok": True, "error": ""}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
