"""A small local runner for composite GitHub Actions — used by the tests only.

It runs an ``action.yml`` (``runs.using: composite``) the way GitHub's runner does, so every action in
``actions/`` is tested by running it::

    result = run_action(REPO / "actions" / "verify", {"tier": "tier-0"}, workspace=repo_dir)
    assert result.ok and result.outputs["verdict"] == "passed"
    assert "tier-0" in result.summary

The environment contract of a step (GitHub's, see "Variables" and "Workflow commands" in the docs):

* ``GITHUB_WORKSPACE`` (the default working directory), ``GITHUB_ACTION_PATH`` (the action's folder),
  ``GITHUB_ACTION`` (the step id), ``RUNNER_TEMP``, ``CI=true``, ``GITHUB_ACTIONS=true``,
  ``GITHUB_REPOSITORY``, ``GITHUB_SHA``, ``GITHUB_REF``, ``GITHUB_EVENT_NAME``, ``GITHUB_EVENT_PATH``, ...
* files, fresh for every step: ``GITHUB_OUTPUT`` (``name=value`` or ``name<<EOF`` heredocs -> the step's
  outputs), ``GITHUB_STEP_SUMMARY`` (Markdown; every step's part makes the job summary), ``GITHUB_ENV``
  (variables for the later steps), ``GITHUB_PATH`` (directories put in front of ``PATH`` for later steps);
* ``env:`` of the step, ``with:`` of a nested action, ``working-directory:``, ``if:``, ``shell:``
  (bash = ``bash --noprofile --norc -eo pipefail``, sh, python), ``continue-on-error:``;
* expressions ``${{ ... }}`` in ``with:`` / ``env:`` / ``if:`` / ``working-directory:`` / ``outputs.*.value``
  over ``inputs``, ``steps.<id>.outputs.<name>`` / ``.outcome`` / ``.conclusion``, ``github.*`` (including
  ``github.action_path``, ``github.workspace``, ``github.event.*``), ``runner.*``, ``env.*``: literals,
  ``== != < <= > >= && || !``, parentheses and ``success() failure() always() cancelled() contains()
  startsWith() endsWith() format() toJSON() fromJSON()`` with GitHub's coercion rules (string equality
  ignores case; ``&&`` / ``||`` return an operand);
* nested actions: ``uses: ./path`` (relative to the workspace). Remote actions (``owner/repo@ref``) are
  refused: a test must not depend on the network. (Our own actions reach their sibling ``actions/setup``
  through its script, ``bash "$GITHUB_ACTION_PATH/../setup/setup.sh"``, which every runner supports.)

What GitHub does *not* do, the runner does not do either: composite ``run:`` steps get no ``INPUT_*``
variables (actions/runner#665 — inputs reach scripts only through ``env:``), and ``${{ }}`` inside
``run:`` is expanded like GitHub would (textually, before the shell sees it), so a test can show why
that is unsafe. Inputs are strings; a required input without a value is an error (GitHub only warns,
but for our tests it is always a mistake).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

SELF_REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV") or SELF_REPO / ".venv") / "bin"
SHELLS = {
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"],
    "sh": ["sh", "-e", "{0}"],
    "python": ["python", "{0}"],
}
#: Variables of the test process that must not leak into a step (they would fake GitHub's contract).
LEAKY_PREFIXES = ("GITHUB_", "INPUT_", "RUNNER_", "ACTIONS_", "PYTEST_", "TRUNKLINE_", "COV_CORE_")


class ActionError(Exception):
    """The action file or a step cannot run here (not a test failure of the action itself)."""


# ============================================================================ expressions

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))
     |(?P<str>'(?:[^']|'')*')
     |(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])
     |(?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ActionError(f"cannot parse expression {text!r} at {text[pos:]!r}")
        pos = m.end()
        if m.group("num") is not None:
            raw = m.group("num")
            out.append(("lit", int(raw, 16) if raw.lower().startswith(("0x", "-0x")) else float(raw)))
        elif m.group("str") is not None:
            out.append(("lit", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            name = m.group("name")
            lowered = name.lower()
            if lowered in ("true", "false"):
                out.append(("lit", lowered == "true"))
            elif lowered == "null":
                out.append(("lit", None))
            else:
                out.append(("name", name))
    return out


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, 0.0, "")


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b) or (isinstance(a, int | float) and isinstance(b, int | float)
                              and not isinstance(a, bool) and not isinstance(b, bool)):
        if isinstance(a, dict | list):
            return a is b
        return a == b
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    return _number(a) == _number(b)


def to_string(value: Any) -> str:
    """How GitHub turns an expression's value into text (``with:``, ``env:``, templates)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2)
    return str(value)


class _Parser:
    def __init__(self, text: str, context: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]):
        self.tokens = _tokens(text)
        self.i = 0
        self.context = context
        self.functions = functions
        self.text = text

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, op: str | None = None) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None or (op is not None and tok != ("op", op)):
            raise ActionError(f"expression {self.text!r}: expected {op or 'more'}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ActionError(f"expression {self.text!r}: unexpected {self.peek()[1]!r}")
        return value

    def or_(self) -> Any:
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = left if truthy(left) else right
        return left

    def and_(self) -> Any:
        left = self.compare()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.compare()
            left = right if truthy(left) else left
        return left

    def compare(self) -> Any:
        left = self.unary()
        while self.peek() in (("op", "=="), ("op", "!="), ("op", "<"), ("op", "<="), ("op", ">"), ("op", ">=")):
            op = self.take()[1]
            right = self.unary()
            if op == "==":
                left = _equal(left, right)
            elif op == "!=":
                left = not _equal(left, right)
            else:
                a, b = (left, right) if isinstance(left, str) and isinstance(right, str) else (
                    _number(left), _number(right))
                left = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return left

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while True:
            tok = self.peek()
            if tok == ("op", "."):
                self.take()
                kind, name = self.take()
                if kind != "name":
                    raise ActionError(f"expression {self.text!r}: expected a property name after '.'")
                value = _index(value, name)
            elif tok == ("op", "["):
                self.take()
                key = self.or_()
                self.take("]")
                value = _index(value, key)
            else:
                return value

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "lit":
            return value
        if (kind, value) == ("op", "("):
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "name":
            if self.peek() == ("op", "("):
                self.take()
                args = []
                if self.peek() != ("op", ")"):
                    args.append(self.or_())
                    while self.peek() == ("op", ","):
                        self.take()
                        args.append(self.or_())
                self.take(")")
                fn = self.functions.get(value.lower())
                if fn is None:
                    raise ActionError(f"expression {self.text!r}: function {value}() is not supported here")
                return fn(*args)
            if value not in self.context:
                raise ActionError(f"expression {self.text!r}: unknown context {value!r}")
            return self.context[value]
        raise ActionError(f"expression {self.text!r}: unexpected {value!r}")


def _index(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        if isinstance(key, str):
            for k, v in value.items():  # property names are case-insensitive
                if str(k).casefold() == key.casefold():
                    return v
        return None
    if isinstance(value, list) and isinstance(key, int | float) and not isinstance(key, bool):
        i = int(key)
        return value[i] if 0 <= i < len(value) else None
    return None


def _format(template: str, *args: Any) -> str:
    def one(m: re.Match) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        return to_string(args[int(m.group(1))])
    return re.sub(r"\{\{|\}\}|\{(\d+)\}", one, str(template))


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, list):
        return any(_equal(item, needle) for item in haystack)
    return to_string(needle).casefold() in to_string(haystack).casefold()


def evaluate(text: str, context: Mapping[str, Any], *, status: str = "success") -> Any:
    """One expression (without ``${{ }}``). ``status``: success | failure | cancelled (the job so far)."""
    functions: dict[str, Callable[..., Any]] = {
        "success": lambda: status == "success",
        "failure": lambda: status == "failure",
        "always": lambda: True,
        "cancelled": lambda: status == "cancelled",
        "contains": _contains,
        "startswith": lambda a, b: to_string(a).casefold().startswith(to_string(b).casefold()),
        "endswith": lambda a, b: to_string(a).casefold().endswith(to_string(b).casefold()),
        "format": _format,
        "join": lambda items, sep=",": to_string(sep).join(to_string(i) for i in items)
        if isinstance(items, list) else to_string(items),
        "tojson": lambda v: json.dumps(v, indent=2),
        "fromjson": lambda v: json.loads(to_string(v)),
    }
    return _Parser(text, context, functions).parse()


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def expand(value: Any, context: Mapping[str, Any], *, status: str = "success") -> str:
    """A string that may hold ``${{ expr }}`` parts -> text."""
    if not isinstance(value, str):
        return to_string(value)
    return _TEMPLATE.sub(lambda m: to_string(evaluate(m.group(1), context, status=status)), value)


_STATUS_FUNCTION = re.compile(r"\b(success|failure|always|cancelled)\s*\(", re.IGNORECASE)


def condition(text: Any, context: Mapping[str, Any], *, status: str) -> bool:
    """An ``if:``: an expression with or without ``${{ }}``; without a status function it means
    ``success() && (...)``, like GitHub."""
    if text is None or text == "":
        return status == "success"
    if isinstance(text, bool):
        return text and status == "success"
    raw = str(text).strip()
    whole = _TEMPLATE.fullmatch(raw)
    expr = whole.group(1) if whole else raw
    if whole is None and "${{" in raw:
        return truthy(expand(raw, context, status=status)) and status == "success"
    if not _STATUS_FUNCTION.search(expr):
        return status == "success" and truthy(evaluate(expr, context, status=status))
    return truthy(evaluate(expr, context, status=status))


# ============================================================================ workflow-command files

def parse_command_file(text: str) -> dict[str, str]:
    """``GITHUB_OUTPUT`` / ``GITHUB_ENV`` content: ``name=value`` lines and ``name<<DELIM`` heredocs."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body: list[str] = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ActionError(f"matching delimiter not found: {delim!r}")
            i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        else:
            raise ActionError(f"invalid format in a workflow command file: {line!r}")
    return out


# ============================================================================ running

@dataclass
class StepResult:
    id: str
    name: str
    outcome: str  # success | failure | skipped
    conclusion: str
    outputs: dict[str, str] = field(default_factory=dict)
    returncode: int | None = None
    log: str = ""


@dataclass
class ActionResult:
    outcome: str  # success | failure
    outputs: dict[str, str]
    summary: str
    steps: list[StepResult]
    env: dict[str, str]  # what GITHUB_ENV set for later steps
    path: list[str]  # what GITHUB_PATH added
    log: str

    @property
    def ok(self) -> bool:
        return self.outcome == "success"

    def step(self, step_id: str) -> StepResult:
        return next(s for s in self.steps if s.id == step_id)


@dataclass
class _Job:
    """State shared by the steps of one run (and of nested actions): the job's env, PATH, summary."""

    workspace: Path
    temp: Path
    github: dict[str, Any]
    env: dict[str, str]
    base_env: dict[str, str]
    path: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    timeout: float = 600.0


def load_action(action: Path | str) -> dict[str, Any]:
    folder = Path(action)
    for name in ("action.yml", "action.yaml"):
        if (folder / name).exists():
            doc = YAML(typ="safe", pure=True).load((folder / name).read_text())
            break
    else:
        raise ActionError(f"no action.yml in {folder}")
    if not isinstance(doc, dict) or (doc.get("runs") or {}).get("using") != "composite":
        raise ActionError(f"{folder}: only composite actions run here")
    return doc


def base_environment(extra_path: list[str] | None = None) -> dict[str, str]:
    """The test process's environment without anything that would fake GitHub's contract, with this
    repository's virtualenv first on PATH (where ``trunkline`` is installed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES) and k != "VIRTUAL_ENV"}
    parts = [*(extra_path or []), str(VENV_BIN), env.get("PATH", "/usr/bin:/bin")]
    env["PATH"] = os.pathsep.join(parts)
    return env


def run_action(action: Path | str, inputs: Mapping[str, Any] | None = None, *, workspace: Path | str,
               github: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
               runner_temp: Path | str | None = None, timeout: float = 600.0,
               base_env: Mapping[str, str] | None = None) -> ActionResult:
    """Run a composite action like a workflow step ``uses: <action>`` with ``with: inputs`` would.

    ``github``: the ``github`` context (``sha``, ``ref``, ``base_ref``, ``event_name``, ``event`` ...);
    ``env``: the job's ``env:`` (also the ``env`` context); ``base_env``: the runner machine's
    environment (default: this process's, cleaned, with the virtualenv on PATH).
    """
    workspace = Path(workspace).resolve()
    temp = Path(runner_temp) if runner_temp else Path(tempfile.mkdtemp(prefix="runner-temp-", dir=workspace.parent))
    temp.mkdir(parents=True, exist_ok=True)
    ctx = {"repository": "acme/app", "repository_owner": "acme", "sha": "0" * 40, "ref": "refs/heads/main",
           "ref_name": "main", "event_name": "push", "event": {}, "actor": "octocat", "run_id": "1",
           "run_number": "1", "run_attempt": "1", "server_url": "https://github.com",
           "api_url": "https://api.github.com", "base_ref": "", "head_ref": "", "job": "test",
           "workflow": "test", "workspace": str(workspace)}
    ctx.update(github or {})
    job = _Job(workspace=workspace, temp=temp, github=ctx, env=dict(env or {}),
               base_env=dict(base_env) if base_env is not None else base_environment(), timeout=timeout)
    result = _run_composite(Path(action).resolve(), dict(inputs or {}), job, step_id="__action")
    return ActionResult(result.outcome, result.outputs, "".join(job.summary), result.steps,
                        dict(job.env), list(job.path), "\n".join(job.log))


@dataclass
class _Composite:
    outcome: str
    outputs: dict[str, str]
    steps: list[StepResult]


def _run_composite(folder: Path, given: dict[str, Any], job: _Job, step_id: str) -> _Composite:
    doc = load_action(folder)
    declared = doc.get("inputs") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ActionError(f"{folder.name}: unexpected inputs {unknown} (declared: {sorted(declared)})")
    inputs: dict[str, str] = {}
    for name, spec in declared.items():
        spec = spec or {}
        if name in given:
            inputs[name] = to_string(given[name])
        elif "default" in spec:
            inputs[name] = expand(spec["default"], _context(job, folder, {}, {}))
        elif spec.get("required"):
            raise ActionError(f"{folder.name}: input {name!r} is required")
        else:
            inputs[name] = ""
    steps_ctx: dict[str, Any] = {}
    results: list[StepResult] = []
    status = "success"
    for index, step in enumerate(doc["runs"].get("steps") or []):
        sid = str(step.get("id") or f"__step{index}")
        name = str(step.get("name") or step.get("run", step.get("uses", sid))).splitlines()[0]
        context = _context(job, folder, inputs, steps_ctx)
        if not condition(step.get("if"), context, status=status):
            res = StepResult(sid, name, "skipped", "skipped")
        elif "run" in step:
            res = _run_script(step, sid, name, folder, context, job)
        elif "uses" in step:
            res = _run_nested(step, sid, name, folder, context, job)
        else:
            raise ActionError(f"{folder.name}: step {name!r} has neither run nor uses")
        raw = step.get("continue-on-error", False)
        continue_on_error = raw if isinstance(raw, bool) else expand(raw, context).strip().lower() == "true"
        if res.outcome == "failure" and continue_on_error:
            res.conclusion = "success"
        results.append(res)
        steps_ctx[sid] = {"outputs": res.outputs, "outcome": res.outcome, "conclusion": res.conclusion}
        if res.conclusion == "failure":
            status = "failure"
    context = _context(job, folder, inputs, steps_ctx)
    outputs = {name: expand((spec or {}).get("value", ""), context)
               for name, spec in (doc.get("outputs") or {}).items()}
    return _Composite(status, outputs, results)


def _context(job: _Job, folder: Path, inputs: Mapping[str, str], steps: Mapping[str, Any]) -> dict[str, Any]:
    return {"inputs": dict(inputs), "steps": dict(steps), "github": {**job.github, "action_path": str(folder)},
            "runner": {"temp": str(job.temp), "os": "Linux", "arch": "X64", "name": "local",
                       "environment": "self-hosted", "tool_cache": str(job.temp / "toolcache")},
            "env": dict(job.env), "job": {"status": "success"}, "vars": {}, "secrets": {}}


def _resolve_uses(uses: str, job: _Job) -> Path:
    if uses.startswith("./"):
        return (job.workspace / uses[2:]).resolve()
    # remote actions (owner/repo@ref) and anything else, e.g. the draft self-repository syntax (a dollar sign
    # before the path; actions/runner#4457, behind a feature flag) that GitHub's runners cannot be relied on for
    raise ActionError(f"action {uses!r}: the local runner only runs actions from the workspace (./path); "
                      "remote actions would need the network")


def _run_nested(step: dict, sid: str, name: str, folder: Path, context: dict, job: _Job) -> StepResult:
    target = _resolve_uses(str(step["uses"]), job)
    given = {k: expand(v, context) for k, v in (step.get("with") or {}).items()}
    saved = dict(job.env)
    job.env.update({k: expand(v, context) for k, v in (step.get("env") or {}).items()})
    try:
        inner = _run_composite(target, given, job, step_id=sid)
    finally:
        # a step's env: applies to that step only; GITHUB_ENV writes inside it persist
        for k in list(job.env):
            if k in (step.get("env") or {}) and k not in saved:
                del job.env[k]
            elif k in (step.get("env") or {}):
                job.env[k] = saved[k]
    return StepResult(sid, name, inner.outcome, inner.outcome, inner.outputs)


def _run_script(step: dict, sid: str, name: str, folder: Path, context: dict, job: _Job) -> StepResult:
    shell = str(step.get("shell") or "")
    if not shell:
        raise ActionError(f"{folder.name}: step {name!r}: composite run steps need shell:")
    template = SHELLS.get(shell) or shell.split()
    if "{0}" not in template:
        template = [*template, "{0}"]
    files = {}
    for var in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH"):
        path = job.temp / f"_runner_file_commands/{var.lower()}_{uuid.uuid4().hex}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        files[var] = path
    script = job.temp / f"_runner_scripts/{uuid.uuid4().hex}.{'py' if shell == 'python' else 'sh'}"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(expand(step["run"], context))  # like GitHub: textual expansion before the shell
    event_path = job.temp / "_runner_event.json"
    event_path.write_text(json.dumps(job.github.get("event") or {}))
    env = dict(job.base_env)
    gh = job.github
    env.update({
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(job.workspace),
        "GITHUB_ACTION_PATH": str(folder), "GITHUB_ACTION": sid, "RUNNER_TEMP": str(job.temp),
        "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "GITHUB_REPOSITORY": str(gh["repository"]),
        "GITHUB_REPOSITORY_OWNER": str(gh["repository_owner"]), "GITHUB_SHA": str(gh["sha"]),
        "GITHUB_REF": str(gh["ref"]), "GITHUB_REF_NAME": str(gh["ref_name"]),
        "GITHUB_EVENT_NAME": str(gh["event_name"]), "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_BASE_REF": str(gh["base_ref"]), "GITHUB_HEAD_REF": str(gh["head_ref"]),
        "GITHUB_ACTOR": str(gh["actor"]), "GITHUB_RUN_ID": str(gh["run_id"]),
        "GITHUB_RUN_NUMBER": str(gh["run_number"]), "GITHUB_RUN_ATTEMPT": str(gh["run_attempt"]),
        "GITHUB_SERVER_URL": str(gh["server_url"]), "GITHUB_API_URL": str(gh["api_url"]),
        "GITHUB_JOB": str(gh["job"]), "GITHUB_WORKFLOW": str(gh["workflow"]),
    })
    env.update(job.env)
    env.update({k: expand(v, context) for k, v in (step.get("env") or {}).items()})
    env.update({var: str(path) for var, path in files.items()})
    if job.path:
        env["PATH"] = os.pathsep.join([*reversed(job.path), env.get("PATH", "")])
    cwd = job.workspace
    if step.get("working-directory"):
        cwd = (job.workspace / expand(step["working-directory"], context)).resolve()
    argv = [a.replace("{0}", str(script)) for a in template]
    if shutil.which(argv[0], path=env.get("PATH")) is None:
        raise ActionError(f"shell {argv[0]!r} not found on PATH")
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=job.timeout,
                              start_new_session=True)
        code, log = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, log = -1, f"step timed out after {job.timeout}s\n{exc.stdout or ''}{exc.stderr or ''}"
    job.log.append(f"##[group]{name}\n{log}##[endgroup]")
    outputs = parse_command_file(files["GITHUB_OUTPUT"].read_text())
    job.summary.append(files["GITHUB_STEP_SUMMARY"].read_text())
    job.env.update(parse_command_file(files["GITHUB_ENV"].read_text()))
    job.path.extend(line.strip() for line in files["GITHUB_PATH"].read_text().splitlines() if line.strip())
    outcome = "success" if code == 0 else "failure"
    return StepResult(sid, name, outcome, outcome, outputs, code, log)


# ============================================================================ helpers for tests

def git_repo(root: Path, files: Mapping[str, str], message: str = "initial") -> Path:
    """A real git repository with ``files`` committed on ``main`` (the workspace of a run)."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty",
                    "-m", message], cwd=root, check=True)
    return root
