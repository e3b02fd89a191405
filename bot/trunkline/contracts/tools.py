"""The code generators behind ``trunkline contracts generate`` (the imperative shell).

- Python: datamodel-code-generator (a Python dependency; it reads OpenAPI 3.x and AsyncAPI 2.x/3.x
  directly), pydantic v2 models, with every option that shapes the output pinned.
- TypeScript: openapi-typescript for OpenAPI; quicktype for AsyncAPI message payloads.
- Swift: quicktype (OpenAPI component schemas, AsyncAPI message payloads).

The node tools are optional and pinned to exact versions, installed into a project-local npm prefix
(``.trunkline/node``, or ``TRUNKLINE_NODE_PREFIX``) by ``trunkline contracts tools install``. A
missing or mismatched tool raises :class:`ToolMissing`, whose message says what to install.

Generation never reads a project configuration of the tools (datamodel-code-generator runs with
``--ignore-pyproject``; node tools run in an empty temporary directory), so the output depends only
on the contract, the recipe and the tool.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: datamodel-code-generator's output changes between minor versions; the series is pinned.
DMCG_PACKAGE = "datamodel-code-generator"
DMCG_SERIES = "0.89"
DMCG_SPEC = f"{DMCG_PACKAGE}>={DMCG_SERIES},<0.90"

#: Exact versions of the node tools (openapi-typescript 7 needs TypeScript 5; TypeScript 7 breaks it).
NODE_PINS: dict[str, str] = {"openapi-typescript": "7.13.0", "typescript": "5.9.3", "quicktype": "26.0.0"}
DEFAULT_NODE_PREFIX = Path(".trunkline") / "node"

#: Options pinned for reproducible Python output (also documented in the header's recipe).
PYTHON_ARGS: tuple[str, ...] = (
    "--output-model-type", "pydantic_v2.BaseModel",
    "--disable-timestamp",
    "--target-python-version", "3.11",
    "--formatters", "builtin",  # no dependency on black/isort versions
    "--use-annotated",
    "--field-constraints",
    "--collapse-root-models",
    "--use-double-quotes",
    "--use-schema-description",
    "--enum-field-as-literal", "all",
    "--use-standard-collections",
    "--use-union-operator",
)
QUICKTYPE_ARGS: dict[str, tuple[str, ...]] = {
    "typescript": ("--lang", "typescript", "--just-types"),
    "swift": ("--lang", "swift"),
}
TIMEOUT = 300


class ToolMissing(Exception):
    """A generator is not installed (or not the pinned version); the message says what to install."""


class GeneratorFailed(Exception):
    """A generator ran and failed; the message carries its diagnostics."""


@dataclass(frozen=True)
class Recipe:
    """Everything besides the contract that determines a generated file."""

    language: str
    kind: str
    tool: str  # pinned tool spec, e.g. "openapi-typescript@7.13.0"
    args: tuple[str, ...]
    options: tuple[tuple[str, Any], ...]

    def digest(self) -> str:
        data = {"v": 1, "language": self.language, "kind": self.kind, "tool": self.tool,
                "args": list(self.args), "options": [[k, v] for k, v in self.options]}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def recipe_for(language: str, kind: str, options: Mapping[str, Any]) -> Recipe:
    """The recipe of a target (pure: no tool is looked at)."""
    opts = tuple(options.items())
    if language == "python":
        return Recipe(language, kind, DMCG_SPEC, PYTHON_ARGS, opts)
    if language == "typescript" and kind == "openapi":
        spec = f"openapi-typescript@{NODE_PINS['openapi-typescript']}+typescript@{NODE_PINS['typescript']}"
        return Recipe(language, kind, spec, (), opts)
    return Recipe(language, kind, f"quicktype@{NODE_PINS['quicktype']}", QUICKTYPE_ARGS[language], opts)


def option_args(options: Sequence[tuple[str, Any]]) -> list[str]:
    """``{flag: value}`` -> command-line arguments (true = bare flag, false = left out)."""
    args: list[str] = []
    for name, value in options:
        if value is True:
            args.append(f"--{name}")
        elif value is False:
            continue
        elif isinstance(value, list):
            args.extend([f"--{name}", *map(str, value)])
        else:
            args.extend([f"--{name}", str(value)])
    return args


@dataclass(frozen=True)
class Generated:
    body: str
    generator: str  # "datamodel-code-generator 0.89.0"


def generate_body(src: Path, recipe: Recipe, *, node_prefix: Path) -> Generated:
    """Run the generator for ``recipe`` on the contract file ``src``; the body without tool banners."""
    if recipe.language == "python":
        return _python(src, recipe)
    if recipe.language == "typescript" and recipe.kind == "openapi":
        return _openapi_typescript(src, recipe, node_prefix)
    return _quicktype(src, recipe, node_prefix)


# --- python ----------------------------------------------------------------------------------

def dmcg_version() -> str:
    """The installed datamodel-code-generator version; :class:`ToolMissing` when absent or not pinned."""
    if importlib.util.find_spec("datamodel_code_generator") is None:
        raise ToolMissing(f"Python targets need {DMCG_PACKAGE}: pip install '{DMCG_SPEC}'")
    version = importlib.metadata.version(DMCG_PACKAGE)
    if not (version == DMCG_SERIES or version.startswith(DMCG_SERIES + ".")):
        raise ToolMissing(f"found {DMCG_PACKAGE} {version}, but generated code is pinned to {DMCG_SERIES}.x so "
                          f"that everyone generates the same bytes: pip install '{DMCG_SPEC}'")
    return version


_DMCG_BANNER = re.compile(r"\A# generated by datamodel-codegen:\n(?:#[^\n]*\n)*\n?")


_PYTHON_LOCK = threading.Lock()


def _python(src: Path, recipe: Recipe) -> Generated:
    """Run datamodel-code-generator in this process (its CLI entry point, same arguments).

    In-process because its start-up dominates: ~2 s for the first file, ~0.3 s for each one after. A
    lock serialises runs (the tool keeps module-level caches and we redirect its stderr).
    """
    version = dmcg_version()
    from datamodel_code_generator.__main__ import main as dmcg_main

    with _PYTHON_LOCK, tempfile.TemporaryDirectory(prefix="trunkline-gen-") as tmp:
        out = Path(tmp) / "models.py"
        # never a project config, never the network (a contract's remote $ref is an error, not a fetch)
        argv = ["--input", str(src), "--input-file-type", recipe.kind, "--output", str(out), "--ignore-pyproject",
                "--no-allow-remote-refs", *recipe.args, *option_args(recipe.options)]
        messages = io.StringIO()
        try:
            with contextlib.redirect_stderr(messages), contextlib.redirect_stdout(messages):
                code = dmcg_main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # noqa: BLE001 - the tool's own bugs are reported, not raised through us
            raise GeneratorFailed(f"{DMCG_PACKAGE} on {src.name} crashed: {type(exc).__name__}: {exc}") from None
        if code not in (0, None) or not out.is_file():
            raise GeneratorFailed(f"{DMCG_PACKAGE} on {src.name} failed (exit {code}):\n"
                                  f"{messages.getvalue().strip()[-4000:]}")
        text = out.read_text(encoding="utf-8")
    return Generated(_normalise(_DMCG_BANNER.sub("", text, count=1)), f"{DMCG_PACKAGE} {version}")


# --- node tools ------------------------------------------------------------------------------

def node_prefix_for(root: Path) -> Path:
    env = os.environ.get("TRUNKLINE_NODE_PREFIX")
    return Path(env) if env else root / DEFAULT_NODE_PREFIX


def install_command(prefix: Path) -> list[str]:
    return ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
            *(f"{name}@{version}" for name, version in NODE_PINS.items())]


def install_hint(prefix: Path) -> str:
    return ("install the pinned node tools into the project-local prefix with `trunkline contracts tools "
            f"install` (runs: {' '.join(install_command(prefix))})")


def install_node_tools(prefix: Path) -> subprocess.CompletedProcess[str]:
    """``npm install`` the pinned tools into ``prefix``; :class:`ToolMissing` when npm is absent."""
    if shutil.which("npm") is None:
        raise ToolMissing("npm was not found: install Node.js 18 or newer (it includes npm), then run "
                          "`trunkline contracts tools install`")
    prefix.mkdir(parents=True, exist_ok=True)
    return subprocess.run(install_command(prefix), capture_output=True, text=True, timeout=900, check=False)


def node_tool(prefix: Path, package: str, binary: str, purpose: str) -> Path:
    """Path of a pinned node tool's executable; :class:`ToolMissing` (saying what to install) otherwise."""
    if shutil.which("node") is None:
        raise ToolMissing(f"{purpose} needs Node.js, which was not found: install Node.js 18 or newer "
                          f"(with npm), then {install_hint(prefix)}")
    exe = prefix / "node_modules" / ".bin" / binary
    manifest = prefix / "node_modules" / package / "package.json"
    if not exe.exists() or not manifest.is_file():
        raise ToolMissing(f"{purpose} needs {package}@{NODE_PINS[package]}, not found in {prefix}: "
                          f"{install_hint(prefix)}")
    version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    if version != NODE_PINS[package]:
        raise ToolMissing(f"{purpose} needs {package}@{NODE_PINS[package]} (pinned for reproducible output), "
                          f"found {version} in {prefix}: {install_hint(prefix)}")
    return exe


def _openapi_typescript(src: Path, recipe: Recipe, prefix: Path) -> Generated:
    purpose = "TypeScript from OpenAPI"
    exe = node_tool(prefix, "openapi-typescript", "openapi-typescript", purpose)
    node_tool(prefix, "typescript", "tsc", purpose)
    with tempfile.TemporaryDirectory(prefix="trunkline-gen-") as tmp:
        out = Path(tmp) / "types.ts"
        _run([str(exe), str(src), "--output", str(out), *option_args(recipe.options)], cwd=tmp,
             what=f"openapi-typescript on {src.name}")
        text = out.read_text(encoding="utf-8")
    return Generated(_normalise(text), f"openapi-typescript {NODE_PINS['openapi-typescript']}")


def _quicktype(src: Path, recipe: Recipe, prefix: Path) -> Generated:
    from trunkline.contracts.extract import load_document, quicktype_inputs

    purpose = f"{recipe.language.capitalize()} from {'OpenAPI' if recipe.kind == 'openapi' else 'AsyncAPI'}"
    exe = node_tool(prefix, "quicktype", "quicktype", purpose)
    inputs = quicktype_inputs(recipe.kind, load_document(src.read_bytes(), src.name))
    if not inputs:
        raise GeneratorFailed(f"{src.name}: no schemas to generate {recipe.language} from "
                              "(no component schemas or message payloads)")
    with tempfile.TemporaryDirectory(prefix="trunkline-gen-") as tmp:
        schema_dir = Path(tmp) / "schemas"
        schema_dir.mkdir()
        files = []
        for name, schema in sorted(inputs.items()):
            path = schema_dir / f"{name}.json"
            path.write_text(json.dumps(schema, indent=1, sort_keys=True), encoding="utf-8")
            files.append(str(path))
        out = Path(tmp) / ("types.ts" if recipe.language == "typescript" else "Types.swift")
        # quicktype names each top-level type after its file, except a lone one (named after the output)
        single = ["--top-level", next(iter(inputs))] if len(inputs) == 1 else []
        _run([str(exe), "--src-lang", "schema", *recipe.args, *option_args(recipe.options), *single,
              "--out", str(out), *files], cwd=tmp, what=f"quicktype on {src.name}")
        text = out.read_text(encoding="utf-8")
    return Generated(_normalise(text), f"quicktype {NODE_PINS['quicktype']}")


# --- helpers ---------------------------------------------------------------------------------

def _run(cmd: list[str], *, cwd: str, what: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAMODEL_CODEGEN", "NODE_OPTIONS"))}
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise GeneratorFailed(f"{what} did not finish within {TIMEOUT} s") from None
    except OSError as exc:
        raise GeneratorFailed(f"{what} could not be started: {exc}") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise GeneratorFailed(f"{what} failed (exit {proc.returncode}):\n{detail[-4000:]}")


def _normalise(text: str) -> str:
    """Unix newlines and exactly one final newline, so every platform hashes the same bytes."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    return text + "\n"
