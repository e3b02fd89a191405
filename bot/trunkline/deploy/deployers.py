"""Deployers: how the controller's actions reach the real world (``deploy.deployer`` in the config).

* ``command`` — one argv template per action, run by the worker (no shell: the template is split into
  arguments first, placeholders are filled into single arguments);
* ``workflow`` — dispatch ``.github/workflows/<file>`` with inputs (action, sha, environment, weight, key)
  and follow its run to its conclusion; after a restart the run is found again by the ``key`` its
  ``run-name`` carries (:meth:`WorkflowDeployer.confirm`). Only the inputs the workflow file (on the ref
  dispatched) declares are sent (:func:`choose_inputs`, pure): GitHub refuses undeclared ones, and values
  that do not fit a declared ``choice`` / ``boolean`` / ``number`` type fail the action before dispatching
  (:func:`input_value_problem`, pure);
* ``webhook`` — POST the action as JSON, signed like GitHub signs webhooks:
  ``X-Trunkline-Signature-256: sha256=<hex HMAC-SHA256 of the body with the shared secret>``.

Every deployer answers :meth:`run` with a :class:`DeployOutcome` (never raises) and may report its
state (:meth:`status`, a JSON object like ``trunkline local-deploy status`` prints: ``stable`` /
``canary`` with ``sha`` and ``url``, ``weight``), which confirms actions after a restart
(:meth:`Deployer.confirm`, by default :func:`confirms`, pure) and tells the probes where the canary and stable versions are
(:func:`targets_of`, pure).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

#: Controller action kind -> the deployer's action name.
ACTION_NAMES = {"deploy_canary": "canary", "set_weight": "weight", "promote": "promote", "rollback": "rollback"}
SIGNATURE_HEADER = "X-Trunkline-Signature-256"
_SHA = re.compile(r"^[0-9a-f]{7,64}$")
MAX_OUTPUT = 4000
WORKFLOWS_DIR = ".github/workflows"
MAX_DECLARED = 256
#: (owner/repo, workflow file, blob sha) -> its declared dispatch inputs (a file's blob never changes).
_DECLARED: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
_DECLARED_LOCK = threading.Lock()


@dataclass(frozen=True)
class DeployOutcome:
    ok: bool
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


# ============================================================================================ pure

def template_values(action: str, *, sha: str | None, weight: int | None, environment: str, repository: str,
                    run: int | str = "", key: str = "") -> dict[str, str]:
    """The placeholder values; refuses anything that is not what it claims to be."""
    if sha and not _SHA.match(sha):
        raise ValueError(f"not a commit SHA: {sha!r}")
    if weight is not None and not 0 <= int(weight) <= 100:
        raise ValueError(f"weight out of range: {weight!r}")
    return {"action": action, "sha": sha or "", "weight": "" if weight is None else str(int(weight)),
            "environment": environment, "repository": repository, "run": str(run), "key": key}


def action_key(run_id: int | str, action_id: int) -> str:
    """``{key}``: names one dispatch of one action of one deploy run (the same for its confirmation)."""
    return f"trunkline-{run_id}-{int(action_id)}"


def carries_key(title: str | None, key: str) -> bool:
    """Does a workflow run's ``display_title`` (its evaluated ``run-name:``) carry ``key`` as a whole word?
    (``trunkline-5-1`` is not in ``trunkline-5-12``.)"""
    return bool(key) and re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", title or "") is not None


def find_dispatched(runs: list[Mapping[str, Any]], key: str) -> Mapping[str, Any] | None:
    """The newest workflow run (of a listing) whose name carries ``key``."""
    found = [r for r in runs if isinstance(r, Mapping) and carries_key(str(r.get("display_title") or ""), key)]
    return max(found, key=lambda r: int(r.get("id") or 0)) if found else None


NO_KEY_NOTE = ("workflow has no `key` input: after a worker crash an in-flight action cannot be confirmed and "
               "the run rolls back")


def declared_dispatch_inputs(text: str) -> dict[str, dict[str, Any]] | None:
    """A workflow file's ``on.workflow_dispatch.inputs`` (name -> its spec; {} when it declares none), or None
    when the file is not YAML or has no ``workflow_dispatch`` trigger. Safe loader, YAML 1.2 (``on`` stays ``on``)."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe", pure=True).load(io.StringIO(text))
    except (YAMLError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    on = doc.get("on", doc.get(True))  # True: what a YAML 1.1 writer may have meant
    if isinstance(on, str):
        on = {on: None}
    elif isinstance(on, list):
        on = {str(e): None for e in on}
    if not isinstance(on, dict) or "workflow_dispatch" not in on:
        return None
    config = on["workflow_dispatch"]
    inputs = config.get("inputs") if isinstance(config, dict) else None
    if not isinstance(inputs, dict):
        return {}
    return {str(name): dict(spec) if isinstance(spec, dict) else {} for name, spec in inputs.items()}


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _input_text(value: Any) -> str:
    """A declared value (``options:``, ``default:``) as the text GitHub compares: YAML booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def input_value_problem(spec: Mapping[str, Any], value: str) -> str:
    """What is wrong with sending ``value`` to an input declared as ``spec`` ("" when it fits; pure).

    GitHub refuses (422) a dispatch whose ``choice`` input is not one of its ``options``, whose ``boolean``
    input is not ``true`` / ``false`` ("Provided value 'x' for input 'y' not in the list of allowed values"),
    or whose ``number`` input is not a number. ``string`` and ``environment`` inputs take any text here."""
    kind = spec.get("type")
    if kind == "choice":
        options = spec.get("options")
        allowed = [_input_text(o) for o in options] if isinstance(options, list) else []
        if value not in allowed:
            listed = ", ".join(f"`{o}`" for o in allowed) if allowed else "none (the workflow declares no options)"
            return f"is a choice; the allowed values are {listed}"
    elif kind == "boolean":
        if value not in ("true", "false"):
            return "is a boolean; the allowed values are `true`, `false`"
    elif kind == "number" and not _NUMBER.fullmatch(value):
        return "is a number"
    return ""


def choose_inputs(declared: Mapping[str, Mapping[str, Any]], wanted: Mapping[str, str],
                  *, workflow: str = "the workflow") -> tuple[dict[str, str], tuple[str, ...], str]:
    """(inputs to send, notes for the run, error or ""): only the inputs the workflow declares are sent
    (GitHub refuses a dispatch with any other: 422 "Unexpected inputs provided"); a required declared input
    that is neither configured nor defaulted is an error; a missing ``key`` input is a note. A value that does
    not fit its input's declared type (:func:`input_value_problem`: a ``choice`` outside its options, a
    ``boolean`` other than true/false, a ``number`` that is not one) is an error naming the input and the allowed
    values, found before GitHub would answer a bare 422 — except an empty value (``{weight}`` of a promote or
    rollback), which is left out so the workflow's default applies (a note; an error when the input is required
    and has no default). (pure)"""
    send = {name: value for name, value in wanted.items() if name in declared}
    blank = sorted(name for name, value in send.items() if value == "" and input_value_problem(declared[name], ""))
    for name in blank:
        del send[name]
    missing = sorted(name for name, spec in declared.items()
                     if spec.get("required") in (True, "true") and name not in send and "default" not in spec)
    if missing:
        names = ", ".join(f"`{name}`" for name in missing)
        empty = [name for name in missing if name in blank]
        why = (f" ({', '.join(f'`{n}`' for n in empty)} {'is' if len(empty) == 1 else 'are'} empty for this action)"
               if empty else "")
        return {}, (), (f"{workflow} requires input{'s' if len(missing) > 1 else ''} {names}, which the deploy "
                        f"config does not fill{why} (add it to deploy.workflow.inputs, or give it a default or "
                        "required: false in the workflow)")
    wrong = [(name, problem) for name in sorted(send) if (problem := input_value_problem(declared[name], send[name]))]
    if wrong:
        said = "; ".join(f"input `{name}` {problem}, but the deploy config sends `{send[name]}`"
                         for name, problem in wrong)
        return {}, (), (f"{workflow}: {said} (GitHub would refuse the dispatch: change deploy.workflow.inputs, or "
                        "the input's declaration in the workflow)")
    notes: list[str] = []
    if "key" in wanted and "key" not in declared:
        notes.append(NO_KEY_NOTE)
    dropped = sorted(name for name in wanted if name not in declared and name != "key")
    if dropped:
        notes.append(f"{workflow} does not declare input{'s' if len(dropped) > 1 else ''} "
                     f"{', '.join(f'`{n}`' for n in dropped)}: not sent")
    if blank:
        notes.append(f"input{'s' if len(blank) > 1 else ''} {', '.join(f'`{n}`' for n in blank)} of {workflow} "
                     f"{'is' if len(blank) == 1 else 'are'} empty for this action and typed "
                     f"({', '.join(str(declared[n].get('type')) for n in blank)}): not sent, the workflow's "
                     "default applies")
    return send, tuple(notes), ""


def render_argv(template: str | list[str], values: Mapping[str, str]) -> list[str]:
    """Split the template into arguments, then fill placeholders into each argument (never a shell)."""
    parts = template if isinstance(template, list) else shlex.split(template)
    return [part.format_map(dict(values)) for part in parts]


def render_text(template: str, values: Mapping[str, str]) -> str:
    return template.format_map(dict(values))


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(sign(secret, body), str(header))


def last_json(text: str) -> dict[str, Any]:
    """The last JSON object printed on its own line (or the whole text), else {}."""
    candidates = [text.strip(), *reversed([line.strip() for line in text.splitlines()])]
    for candidate in candidates:
        if candidate.startswith("{"):
            try:
                value = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


def _instance(status: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = status.get(name)
    return value if isinstance(value, Mapping) else {}


def _same(a: Any, b: Any) -> bool:
    return bool(a) and bool(b) and (str(a).startswith(str(b)) or str(b).startswith(str(a)))


def confirms(kind: str, args: Mapping[str, Any], status: Mapping[str, Any] | None) -> bool:
    """Does the deployer's ``status`` show that action ``kind`` (with ``args``) took effect? (pure)"""
    if not status:
        return False
    canary, stable = _instance(status, "canary"), _instance(status, "stable")
    weight = status.get("weight")
    canary_gone = not canary or weight == 0
    if kind == "deploy_canary" or kind == "set_weight":
        return _same(canary.get("sha"), args.get("sha")) and canary.get("alive", True) is not False \
            and weight == args.get("weight")
    if kind == "promote":
        return _same(stable.get("sha"), args.get("sha")) and canary_gone
    if kind == "rollback":
        return canary_gone and (not args.get("sha") or _same(stable.get("sha"), args.get("sha")))
    return False


def targets_of(status: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"canary": url, "stable": url}`` from a deployer status (only the ones it reports)."""
    out: dict[str, str] = {}
    for name in ("canary", "stable"):
        url = _instance(status or {}, name).get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            out[name] = url
    return out


# ============================================================================================ deployers

class Deployer:
    """Base: ``run(kind, ...)`` carries out one controller action; ``status()`` reports, when it can."""

    name = "deployer"

    def run(self, kind: str, *, sha: str | None, weight: int | None, environment: str,
            key: str = "") -> DeployOutcome:
        raise NotImplementedError

    def status(self) -> dict[str, Any] | None:
        return None

    def confirm(self, kind: str, args: Mapping[str, Any], key: str) -> tuple[bool, str, dict[str, Any]]:
        """After a restart: did action ``kind`` (``args``; dispatched as ``key``) take effect?
        ``(confirmed, why not, what was seen)``; by default from :meth:`status` (:func:`confirms`)."""
        status = self.status()
        ok = confirms(kind, args, status)
        return ok, "" if ok else f"deployer status {status!r}", status or {}


class CommandDeployer(Deployer):
    name = "command"

    def __init__(self, spec: Any, *, repository: str, run_id: int | str, cwd: Path, env: Mapping[str, str]) -> None:
        self.spec = spec
        self.repository = repository
        self.run_id = run_id
        self.cwd = Path(spec.working_directory) if spec.working_directory else cwd
        self.env = dict(env)

    def _template(self, action: str) -> str | list[str] | None:
        if action == "weight":
            return self.spec.weight or self.spec.canary
        return getattr(self.spec, action)

    def _exec(self, argv: list[str]) -> tuple[int, str]:
        self.cwd.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=self.spec.timeout_seconds)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, _ = proc.communicate()
            return -1, f"timed out after {self.spec.timeout_seconds:g}s\n" + out.decode(errors="replace")
        return proc.returncode, out.decode(errors="replace")

    def run(self, kind: str, *, sha: str | None, weight: int | None, environment: str,
            key: str = "") -> DeployOutcome:
        action = ACTION_NAMES.get(kind, kind)
        template = self._template(action)
        if template is None:
            return DeployOutcome(False, f"no `{action}` command configured")
        try:
            values = template_values(action, sha=sha, weight=weight, environment=environment,
                                     repository=self.repository, run=self.run_id, key=key)
            argv = render_argv(template, values)
            code, out = self._exec(argv)
        except (OSError, ValueError, KeyError) as exc:
            return DeployOutcome(False, f"{action}: {exc}")
        tail = out[-MAX_OUTPUT:]
        if code != 0:
            return DeployOutcome(False, f"`{argv[0]} ...` exited with {code}: {tail.strip()[-800:]}")
        return DeployOutcome(True, tail.strip()[-800:], last_json(out))

    def status(self) -> dict[str, Any] | None:
        if self.spec.status is None:
            return None
        try:
            values = template_values("status", sha=None, weight=None, environment="", repository=self.repository,
                                     run=self.run_id)
            code, out = self._exec(render_argv(self.spec.status, values))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("deploy status command failed: %s", exc)
            return None
        if code != 0:
            log.warning("deploy status command exited with %s: %s", code, out[-500:])
            return None
        return last_json(out) or None


class WebhookDeployer(Deployer):
    name = "webhook"

    def __init__(self, spec: Any, *, repository: str, run_id: int | str, env: Mapping[str, str]) -> None:
        self.spec = spec
        self.repository = repository
        self.run_id = run_id
        self.secret = (env.get(spec.secret_env) or "").encode()

    def _headers(self, body: bytes, event: str) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": "Trunkline-Deploy", "X-Trunkline-Event": event,
                SIGNATURE_HEADER: sign(self.secret, body)}

    def run(self, kind: str, *, sha: str | None, weight: int | None, environment: str,
            key: str = "") -> DeployOutcome:
        import httpx

        action = ACTION_NAMES.get(kind, kind)
        if not self.secret:
            return DeployOutcome(False, f"the webhook secret ${self.spec.secret_env} is not set on the worker")
        try:
            values = template_values(action, sha=sha, weight=weight, environment=environment,
                                     repository=self.repository, run=self.run_id)
        except ValueError as exc:
            return DeployOutcome(False, str(exc))
        payload = {"action": action, "sha": values["sha"] or None, "weight": weight, "environment": environment,
                   "repository": self.repository, "run": self.run_id}
        body = json.dumps(payload, sort_keys=True).encode()
        try:
            response = httpx.post(self.spec.url, content=body, headers=self._headers(body, "deploy"),
                                  timeout=self.spec.timeout_seconds)
        except httpx.HTTPError as exc:
            return DeployOutcome(False, f"POST {self.spec.url}: {type(exc).__name__}: {exc}")
        text = response.text[-MAX_OUTPUT:]
        if not 200 <= response.status_code < 300:
            return DeployOutcome(False, f"POST {self.spec.url} answered {response.status_code}: {text[:500]}")
        return DeployOutcome(True, f"HTTP {response.status_code}", last_json(text))

    def status(self) -> dict[str, Any] | None:
        import httpx

        if self.spec.status_url is None or not self.secret:
            return None
        try:
            response = httpx.get(self.spec.status_url, headers=self._headers(b"", "status"),
                                 timeout=self.spec.timeout_seconds)
        except httpx.HTTPError:
            return None
        return last_json(response.text) or None if response.status_code == 200 else None


class WorkflowDeployer(Deployer):
    """Dispatches the workflow and follows its run (the dispatch asks GitHub for the run's id).

    After a restart an action's run is found again by its name: the workflow's ``run-name:`` must carry
    the ``key`` input (``run-name: deploy ${{ inputs.action }} [${{ inputs.key }}]``); a finished
    successful run confirms the action, a failed one or none found does not (the controller rolls back)."""

    name = "workflow"

    def __init__(self, spec: Any, *, client: Any, owner: str, repo: str, default_branch: str, run_id: int | str,
                 poll_interval: float = 2.0) -> None:
        self.spec = spec
        self.client = client
        self.owner, self.repo = owner, repo
        self.ref = spec.ref or default_branch
        self.run_id = run_id
        self.poll_interval = poll_interval

    def _declared(self) -> tuple[dict[str, dict[str, Any]] | None, str]:
        """The workflow's declared dispatch inputs on the ref being dispatched (contents API; parsed once per
        blob sha): ``(inputs or None, error)``."""
        import base64

        from github.GithubException import GithubException

        path = f"{WORKFLOWS_DIR}/{self.spec.workflow}"
        try:
            _, data = self.client.request_json("GET", self._url(f"/contents/{quote(path)}"),
                                               parameters={"ref": self.ref})
        except GithubException as exc:
            if exc.status == 404:
                return None, f"{path} does not exist on `{self.ref}`"
            return None, f"reading {path} on `{self.ref}` failed ({exc.status})"
        if not isinstance(data, dict) or data.get("type") != "file":
            return None, f"{path} on `{self.ref}` is not a file"
        cache_key = (f"{self.owner}/{self.repo}".lower(), self.spec.workflow, str(data.get("sha") or ""))
        with _DECLARED_LOCK:
            cached = _DECLARED.get(cache_key) if cache_key[2] else None
        if cached is not None:
            return cached, ""
        try:
            text = base64.b64decode(str(data.get("content") or "")).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None, f"{path} on `{self.ref}` is not readable text"
        declared = declared_dispatch_inputs(text)
        if declared is None:
            return None, f"{path} on `{self.ref}` has no `on: workflow_dispatch` trigger (or is not valid YAML)"
        if cache_key[2]:
            with _DECLARED_LOCK:
                if len(_DECLARED) >= MAX_DECLARED:
                    _DECLARED.pop(next(iter(_DECLARED)))
                _DECLARED[cache_key] = declared
        return declared, ""

    def _url(self, tail: str) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.repo, safe='')}{tail}"

    def _follow(self, run_id: int) -> tuple[bool, str]:
        """Poll the workflow run until it completes (or the timeout): (succeeded, what happened)."""
        from github.GithubException import GithubException

        deadline = time.monotonic() + self.spec.timeout_seconds
        while True:
            try:
                _, run = self.client.request_json("GET", self._url(f"/actions/runs/{int(run_id)}"))
            except GithubException as exc:
                log.warning("following workflow run %s: %s", run_id, exc)
                run = {}
            if run.get("status") == "completed":
                return run.get("conclusion") == "success", (f"workflow run {run_id} ({run.get('html_url', '')}) "
                                                            f"concluded {run.get('conclusion')}")
            if time.monotonic() >= deadline:
                return False, f"workflow run {run_id} did not finish within {self.spec.timeout_seconds:g}s"
            time.sleep(self.poll_interval)

    def run(self, kind: str, *, sha: str | None, weight: int | None, environment: str,
            key: str = "") -> DeployOutcome:
        from github.GithubException import GithubException

        action = ACTION_NAMES.get(kind, kind)
        try:
            values = template_values(action, sha=sha, weight=weight, environment=environment,
                                     repository=f"{self.owner}/{self.repo}", run=self.run_id, key=key)
            wanted = {k: render_text(v, values) for k, v in self.spec.inputs.items()}
        except (ValueError, KeyError) as exc:
            return DeployOutcome(False, str(exc))
        declared, error = self._declared()
        if declared is None:
            return DeployOutcome(False, f"cannot dispatch {self.spec.workflow}: {error}")
        inputs, notes, error = choose_inputs(declared, wanted, workflow=self.spec.workflow)
        if error:
            return DeployOutcome(False, error, {"notes": list(notes)})
        try:
            _, data = self.client.request_json(
                "POST", self._url(f"/actions/workflows/{quote(self.spec.workflow, safe='')}/dispatches"),
                input={"ref": self.ref, "inputs": inputs, "return_run_details": True})
        except GithubException as exc:
            message = exc.data.get("message") if isinstance(exc.data, dict) else exc
            return DeployOutcome(False, f"GitHub refused to dispatch {self.spec.workflow} ({exc.status}: {message})",
                                 {"notes": list(notes)})
        run_id = (data or {}).get("workflow_run_id") if isinstance(data, dict) else None
        if not run_id:
            return DeployOutcome(False, f"{self.spec.workflow}: GitHub did not say which run it started",
                                 {"notes": list(notes)})
        ok, detail = self._follow(int(run_id))
        return DeployOutcome(ok, detail, {"run_id": run_id, "notes": list(notes)})

    def confirm(self, kind: str, args: Mapping[str, Any], key: str) -> tuple[bool, str, dict[str, Any]]:
        from github.GithubException import GithubException

        try:
            _, data = self.client.request_json(
                "GET", self._url(f"/actions/workflows/{quote(self.spec.workflow, safe='')}/runs"),
                parameters={"event": "workflow_dispatch", "per_page": 100})
        except GithubException as exc:
            return False, f"listing the runs of {self.spec.workflow} failed ({exc.status})", {}
        runs = (data or {}).get("workflow_runs") if isinstance(data, dict) else None
        found = find_dispatched(list(runs or []), key)
        if found is None:
            return False, (f"no run of {self.spec.workflow} carries `{key}` in its name (was it dispatched? its "
                           "run-name must carry ${{ inputs.key }})"), {}
        ok, detail = self._follow(int(found["id"]))
        return ok, "" if ok else detail, {"workflow_run": int(found["id"]), "detail": detail}


def make_deployer(section: Any, *, repository: str, run_id: int | str, cwd: Path, env: Mapping[str, str],
                  client: Any = None, default_branch: str = "main", poll_interval: float = 2.0) -> Deployer:
    """The deployer the ``deploy:`` section chooses."""
    owner, _, repo = repository.partition("/")
    if section.deployer == "command":
        return CommandDeployer(section.command, repository=repository, run_id=run_id, cwd=cwd, env=env)
    if section.deployer == "webhook":
        return WebhookDeployer(section.webhook, repository=repository, run_id=run_id, env=env)
    return WorkflowDeployer(section.workflow, client=client, owner=owner, repo=repo, default_branch=default_branch,
                            run_id=run_id, poll_interval=poll_interval)
