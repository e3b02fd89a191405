"""JSON Schema of ``.github/trunkline.yml``, generated from the pydantic model.

Editors (VS Code's YAML extension and others) use it for completion, hover docs and validation, so
the committed copy in ``contracts/trunkline.schema.json`` must always match the model; a unit test
enforces that. Regenerate with::

    python -m trunkline.config.schema --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from trunkline.config.model import TrunklineConfig

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: Repository-relative location of the committed schema.
SCHEMA_RELPATH = Path("contracts") / "trunkline.schema.json"
REGENERATE_HINT = "python -m trunkline.config.schema --write"


def config_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the configuration file, with descriptions and defaults."""
    schema = TrunklineConfig.model_json_schema(mode="validation")
    return {"$schema": DRAFT, **schema}


def render_schema() -> str:
    """The schema exactly as committed: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(config_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def default_schema_path() -> Path:
    """``contracts/trunkline.schema.json`` in the repository this package is checked out from."""
    return Path(__file__).resolve().parents[3] / SCHEMA_RELPATH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trunkline.config.schema", description=__doc__.splitlines()[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write the schema to {SCHEMA_RELPATH}")
    mode.add_argument("--check", action="store_true", help="exit 1 when the committed schema is out of date")
    parser.add_argument("--path", type=Path, default=None, help="schema file (default: the repository's)")
    args = parser.parse_args(argv)
    path: Path = args.path or default_schema_path()
    text = render_schema()
    if args.write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            print(f"{path} is out of date with the model; run: {REGENERATE_HINT}", file=sys.stderr)
            return 1
        print(f"ok: {path} is up to date")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
