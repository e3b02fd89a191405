"""The ``deploy:`` section and the deployers' pure parts (templates, signatures, status reading), plus the
webhook deployer against a real HTTP server and the workflow deployer against the sandbox."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from trunkline.config.model import TrunklineConfig
from trunkline.config.sections_deploy import DeploySection, parse_duration
from trunkline.deploy import controller as c
from trunkline.deploy import deployers as d
from trunkline.deploy.demo import DEPLOY_WORKFLOW as WORKFLOW

SHA = "0123456789abcdef0123456789abcdef01234567"
BASE = {"command": {"canary": "deploy canary {sha} {weight}", "promote": "deploy promote {sha}",
                    "rollback": "deploy rollback {sha}"},
        "targets": {"canary": "http://127.0.0.1:1", "stable": "http://127.0.0.1:2"},
        "probes": [{"name": "health", "path": "/health"}]}


def section(**overrides: object) -> DeploySection:
    return DeploySection.model_validate({**BASE, **overrides})


def errors(data: dict) -> str:
    with pytest.raises(ValidationError) as info:
        TrunklineConfig.model_validate({"deploy": data})
    return str(info.value)


def test_absent_section_means_no_deploys_and_a_present_one_deploys_merges() -> None:
    assert TrunklineConfig().deploy is None
    s = section()
    assert s.on_merge and [st.weight for st in s.steps] == [10, 50] and s.rules.rollback_failures == 3
    plan = c.plan_of(s)
    assert plan.steps == (c.Step(10, 300.0), c.Step(50, 300.0)) and plan.probes == ("health",)


def test_steps_weights_durations_and_manual_gates() -> None:
    s = section(steps=[{"weight": 5, "duration": "90s"}, {"pause": "manual"}, {"weight": 50, "duration": 2.5}])
    assert c.plan_of(s).steps == (c.Step(5, 90.0), c.Step(0, 0.0, True), c.Step(50, 2.5))
    assert "manual gate" in errors({**BASE, "steps": [{"pause": "manual", "weight": 3}]})
    assert "needs a weight and a duration" in errors({**BASE, "steps": [{"weight": 3}]})
    assert "first step" in errors({**BASE, "steps": [{"pause": "manual"}]})
    assert "not a duration" in errors({**BASE, "steps": [{"weight": 3, "duration": "soon"}]})
    assert parse_duration("1h30m") == 5400 and parse_duration("500ms") == 0.5


def test_placeholders_are_checked_and_deployers_need_their_settings() -> None:
    assert "{sha.__class__}" in errors({**BASE, "command": {**BASE["command"], "canary": "x {sha.__class__}"}})
    assert "{token}" in errors({**BASE, "command": {**BASE["command"], "promote": "x {token}"}})
    assert "cannot be split" in errors({**BASE, "command": {**BASE["command"], "rollback": "x 'unclosed"}})
    assert "needs its settings under 'webhook:'" in errors({**BASE, "deployer": "webhook"})
    assert "probes need 'targets'" in errors({k: v for k, v in BASE.items() if k != "targets"})
    # ...unless the deployer's status reports the URLs
    ok = {**{k: v for k, v in BASE.items() if k != "targets"}, "command": {**BASE["command"], "status": "st"}}
    assert DeploySection.model_validate(ok).reports_targets
    assert "at least one probe" in errors({**BASE, "probes": []})
    assert section(probes=[], steps=[]).steps == []
    assert "unique" in errors({**BASE, "probes": [{"name": "a"}, {"name": "a"}]})
    from trunkline.config.loader import parse_config

    result = parse_config("version: 1\ndeploy:\n  command: {canary: a, promote: b, rollback: c}\n  strategy: []\n"
                          "  steps: []\n")
    assert not result.ok and "steps" in " ".join(i.message for i in result.issues)


@given(st.text(max_size=60))
def test_a_value_never_becomes_a_second_argument(evil: str) -> None:
    argv = d.render_argv("deploy --env {environment} --sha {sha}", {"environment": evil, "sha": SHA})
    assert argv[:3] == ["deploy", "--env", evil] and argv[3:] == ["--sha", SHA]


def test_template_values_refuse_what_is_not_a_sha_or_a_weight() -> None:
    with pytest.raises(ValueError):
        d.template_values("canary", sha="; rm -rf /", weight=10, environment="canary", repository="a/b")
    with pytest.raises(ValueError):
        d.template_values("canary", sha=SHA, weight=101, environment="canary", repository="a/b")


def test_status_confirms_actions_and_names_targets() -> None:
    status = {"stable": {"sha": "b" * 40, "url": "http://127.0.0.1:5"},
              "canary": {"sha": SHA, "url": "http://127.0.0.1:6", "alive": True}, "weight": 20}
    assert d.confirms("deploy_canary", {"sha": SHA, "weight": 20}, status)
    assert not d.confirms("deploy_canary", {"sha": SHA, "weight": 50}, status)
    assert not d.confirms("promote", {"sha": SHA}, status)
    assert d.confirms("promote", {"sha": SHA}, {"stable": {"sha": SHA}, "canary": None, "weight": 0})
    assert d.confirms("rollback", {"sha": "b" * 40}, {**status, "weight": 0})
    assert not d.confirms("rollback", {"sha": "b" * 40}, None)
    assert d.targets_of(status) == {"canary": "http://127.0.0.1:6", "stable": "http://127.0.0.1:5"}
    assert d.last_json("starting...\n{\"weight\": 5}\n") == {"weight": 5}


def test_command_deployer_runs_argv_without_a_shell(tmp_path: Path) -> None:
    script = tmp_path / "deploy.py"
    script.write_text("import json, sys\nprint(json.dumps({'argv': sys.argv[1:]}))\nsys.exit(3 if 'promote' in sys.argv "
                      "else 0)\n")
    import sys

    s = section(command={"canary": [sys.executable, str(script), "canary", "{sha}", "{weight}", "$(touch x)"],
                         "promote": f"{sys.executable} {script} promote {{sha}}", "rollback": "true"})
    dep = d.make_deployer(s, repository="acme/shop", run_id=7, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    out = dep.run("deploy_canary", sha=SHA, weight=10, environment="canary")
    assert out.ok and out.data["argv"] == ["canary", SHA, "10", "$(touch x)"]
    assert not (tmp_path / "x").exists()
    failed = dep.run("promote", sha=SHA, weight=None, environment="production")
    assert not failed.ok and "exited with 3" in failed.detail
    assert dep.status() is None  # no status command: a restart cannot confirm, the controller rolls back


def test_webhook_deployer_signs_its_posts_like_github(tmp_path: Path) -> None:
    seen: list[tuple[dict, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((dict(self.headers), self.path, body))
            self.send_response(202 if json.loads(body)["action"] != "promote" else 500)
            self.end_headers()
            self.wfile.write(b'{"accepted": true}')

        def do_GET(self) -> None:  # noqa: N802
            ok = d.verify_signature(b"s3cret", b"", self.headers.get(d.SIGNATURE_HEADER))
            self.send_response(200 if ok else 401)
            self.end_headers()
            self.wfile.write(json.dumps({"stable": {"sha": SHA, "url": "http://x:1"}, "weight": 0}).encode())

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        s = section(deployer="webhook", webhook={"url": f"{url}/deploy", "secret_env": "DEPLOY_SECRET",
                                                 "status_url": f"{url}/status"})
        dep = d.make_deployer(s, repository="acme/shop", run_id=7, cwd=tmp_path, env={"DEPLOY_SECRET": "s3cret"})
        out = dep.run("deploy_canary", sha=SHA, weight=10, environment="canary")
        assert out.ok and out.data == {"accepted": True}
        headers, path, body = seen[0]
        assert path == "/deploy" and json.loads(body) == {"action": "canary", "sha": SHA, "weight": 10,
                                                          "environment": "canary", "repository": "acme/shop", "run": 7}
        assert d.verify_signature(b"s3cret", body, headers[d.SIGNATURE_HEADER])
        assert not d.verify_signature(b"other", body, headers[d.SIGNATURE_HEADER])
        assert not dep.run("promote", sha=SHA, weight=None, environment="production").ok
        assert dep.status() == {"stable": {"sha": SHA, "url": "http://x:1"}, "weight": 0}
        unsigned = d.make_deployer(s, repository="acme/shop", run_id=7, cwd=tmp_path, env={})
        assert "not set" in unsigned.run("rollback", sha=SHA, weight=None, environment="production").detail
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sb(tmp_path: Path):
    from trunkline.sandbox.actors import Sandbox

    with Sandbox(tmp_path / "sandbox") as sandbox:
        yield sandbox


def test_workflow_deployer_dispatches_and_follows_the_run(sb) -> None:  # noqa: ANN001 - Sandbox
    repo = sb.create_repo("acme", "shop", files={".github/workflows/deploy.yml": WORKFLOW, "README.md": "x"})
    dep = _workflow_deployer(sb)()
    results: list[d.DeployOutcome] = []
    for conclusion in ("success", "failure"):
        runner = _finish_next_run(sb, repo, conclusion)  # plays the runner
        results.append(dep.run("deploy_canary", sha=_head(sb, repo), weight=10, environment="canary"))
        runner.join()
    assert results[0].ok and "concluded success" in results[0].detail
    assert not results[1].ok and "concluded failure" in results[1].detail
    with sb.world.lock:
        inputs = [r.inputs for r in sorted(repo.workflow_runs.values(), key=lambda r: r.id)]
    assert inputs[0]["action"] == "canary" and inputs[0]["weight"] == "10" and inputs[0]["environment"] == "canary"


def _workflow_deployer(sb):  # noqa: ANN001, ANN202 - Sandbox; a maker of deployers (each a "new worker")
    from trunkline.github.client import AppClient

    app = sb.create_app("trunkline", owner="trunkline-dev", webhook_url=None, secret="x", events=("*",))
    installation = sb.install(app, "acme")
    client = AppClient(app.id, app.private_key_pem, base_url=sb.url).installation(installation.id)
    s = section(deployer="workflow", workflow={"workflow": "deploy.yml", "timeout_seconds": 20})
    return lambda: d.make_deployer(s, repository="acme/shop", run_id=3, cwd=Path("."), env={}, client=client,
                                   default_branch="main", poll_interval=0.05)


def test_workflow_deployer_confirms_an_action_through_its_dispatched_run_after_a_restart(sb) -> None:  # noqa: ANN001
    """A worker died with a workflow action in flight: a new deployer object finds the run by the key in
    its run-name and confirms the action once the run succeeded (waiting for it while it runs)."""
    import time

    repo = sb.create_repo("acme", "shop", files={".github/workflows/deploy.yml": WORKFLOW, "README.md": "x"})
    make = _workflow_deployer(sb)
    sha = _head(sb, repo)
    args = {"sha": sha, "weight": 10, "environment": "canary"}

    def dispatched(key: str) -> int:  # what the dead worker had done: the dispatch, with its key
        sb.dispatch_workflow(repo, "deploy.yml", "main", as_user="acme",
                             inputs={"action": "canary", "sha": sha, "weight": "10", "key": key})
        with sb.world.lock:
            return max(repo.workflow_runs)

    done = dispatched("trunkline-3-7")
    sb.finish_workflow_run(repo, done, "success")
    dispatched("trunkline-3-70")  # a longer key that starts the same is another dispatch
    with sb.world.lock:
        assert repo.workflow_runs[done].display_title == f"deploy canary {sha} [trunkline-3-7]"
    assert make().confirm("deploy_canary", args, "trunkline-3-7")[0]

    ok, why, _ = make().confirm("deploy_canary", args, "trunkline-3-8")  # never dispatched
    assert not ok and "no run of deploy.yml carries `trunkline-3-8`" in why

    for key, conclusion in (("trunkline-3-9", "success"), ("trunkline-3-10", "failure")):
        running = dispatched(key)

        def runner(run_id: int = running, conclusion: str = conclusion) -> None:
            time.sleep(0.3)
            sb.finish_workflow_run(repo, run_id, conclusion)

        thread = threading.Thread(target=runner)
        thread.start()
        ok, why, seen = make().confirm("set_weight", args, key)  # follows the run until it finishes
        thread.join()
        assert ok == (conclusion == "success") and seen["workflow_run"] == running
        assert ok or "concluded failure" in why


def test_workflow_dispatches_carry_their_key_and_it_is_found_as_a_whole_word() -> None:
    assert d.action_key(5, 12) == "trunkline-5-12"
    assert d.carries_key("deploy canary [trunkline-5-12]", "trunkline-5-12")
    assert not d.carries_key("deploy canary [trunkline-5-12]", "trunkline-5-1")
    assert not d.carries_key("deploy canary [xtrunkline-5-12]", "trunkline-5-12")
    assert not d.carries_key("anything", "")
    runs = [{"id": 1, "display_title": "a trunkline-5-1"}, {"id": 4, "display_title": "b trunkline-5-1"},
            {"id": 9, "display_title": "trunkline-5-10"}, {"id": 2}]
    assert d.find_dispatched(runs, "trunkline-5-1") == runs[1]
    assert d.find_dispatched(runs, "trunkline-6-1") is None


def test_sandbox_run_name_evaluates_inputs_and_github_context() -> None:
    from trunkline.sandbox.routes.actions import run_name

    doc = {"run-name": "Deploy ${{ inputs.sha }} by ${{ github.actor }} on ${{github.ref_name}} "
                       "${{ github.event.inputs.key }}${{ secrets.X }}"}
    assert run_name(doc, inputs={"sha": "abc", "key": "k1"}, actor="bot", ref_name="main") == \
        "Deploy abc by bot on main k1"
    assert run_name({}, inputs={}, actor="bot", ref_name="main") == ""


def _head(sb, repo) -> str:  # noqa: ANN001
    from trunkline.sandbox import git

    return git.branch_sha(sb.repo(repo), "main") or ""


# ---- the workflow's declared inputs -----------------------------------------------------------------

_NAMES = st.sampled_from(["action", "sha", "environment", "weight", "key", "region", "tier"])
_SPECS = st.fixed_dictionaries({}, optional={"required": st.booleans(), "default": st.text(max_size=3),
                                             "type": st.just("string")})


@given(st.dictionaries(_NAMES, _SPECS), st.dictionaries(_NAMES, st.text(max_size=5)))
def test_choose_inputs_sends_only_declared_inputs_and_fails_only_on_unfillable_required_ones(
        declared: dict, wanted: dict) -> None:
    send, notes, error = d.choose_inputs(declared, wanted, workflow="deploy.yml")
    unfillable = {n for n, spec in declared.items() if spec.get("required") and "default" not in spec
                  and n not in wanted}
    if unfillable:
        assert error and send == {} and all(f"`{n}`" in error for n in unfillable)
        return
    assert error == ""
    assert set(send) <= set(declared), "GitHub refuses undeclared inputs (422)"
    assert send == {n: v for n, v in wanted.items() if n in declared}, "every declared wanted input is sent as is"
    assert (d.NO_KEY_NOTE in notes) == ("key" in wanted and "key" not in declared)
    dropped = set(wanted) - set(declared) - {"key"}
    assert any("not sent" in n for n in notes) == bool(dropped)


_VALUES = st.sampled_from(["", "true", "false", "True", "1", "-2.5", "1e3", "x", "staging", "production", "0x1"])
_TYPED = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "choice", "boolean", "number", "environment"])},
    optional={"required": st.booleans(), "default": _VALUES,
              "options": st.lists(st.sampled_from(["staging", "production", "", "1", True]), max_size=3)})


@given(st.dictionaries(_NAMES, st.tuples(_TYPED, st.none() | _VALUES), max_size=4),
       st.dictionaries(st.sampled_from(["extra", "key"]), _VALUES))
def test_choose_inputs_sends_only_values_that_fit_the_declared_types(inputs: dict, undeclared: dict) -> None:
    """The deployer's check agrees with GitHub's (the sandbox's 422s): what it sends is never refused for a
    value; a value that does not fit fails the action naming the input (and a choice's allowed values); an
    empty value for a typed input is left out (a note) unless the input is required without a default."""
    from trunkline.sandbox.routes.actions import input_value_error

    declared = {n: spec for n, (spec, _) in inputs.items()}
    wanted = {n: v for n, (_, v) in inputs.items() if v is not None} | {n: v for n, v in undeclared.items()
                                                                       if n not in declared}
    send, notes, error = d.choose_inputs(declared, wanted, workflow="deploy.yml")
    fits = {n: input_value_error(n, declared[n], v) is None for n, v in wanted.items() if n in declared}
    blank = {n for n, ok in fits.items() if not ok and wanted[n] == ""}
    unfillable = {n for n, spec in declared.items() if spec.get("required") and "default" not in spec
                  and (n not in wanted or n in blank)}
    misfits = {n for n, ok in fits.items() if not ok and n not in blank}
    if unfillable:
        assert error.startswith("deploy.yml requires input") and all(f"`{n}`" in error for n in unfillable)
    elif misfits:
        assert error and send == {}
        for n in misfits:
            assert f"input `{n}` is a {declared[n]['type']}" in error and f"sends `{wanted[n]}`" in error
            if declared[n]["type"] == "choice":
                assert all(f"`{d._input_text(o)}`" in error for o in declared[n].get("options", []))
        assert "GitHub would refuse the dispatch" in error
    else:
        assert error == ""
        assert send == {n: v for n, v in wanted.items() if n in declared and n not in blank}
        assert all(input_value_error(n, declared[n], v) is None for n, v in send.items()), "never a 422"
        assert any("empty for this action" in note and all(f"`{n}`" in note for n in blank)
                   for note in notes) == bool(blank)


def test_input_value_problem_examples() -> None:
    choice = {"type": "choice", "options": ["staging", "production"]}
    assert d.input_value_problem(choice, "staging") == ""
    assert d.input_value_problem(choice, "canary") == "is a choice; the allowed values are `staging`, `production`"
    assert d.input_value_problem({"type": "choice"}, "x").endswith("none (the workflow declares no options)")
    assert d.input_value_problem({"type": "choice", "options": [True, 2]}, "true") == "", "YAML values as text"
    assert d.input_value_problem({"type": "boolean"}, "true") == d.input_value_problem({"type": "boolean"}, "false")
    assert d.input_value_problem({"type": "boolean"}, "yes") == "is a boolean; the allowed values are `true`, `false`"
    assert d.input_value_problem({"type": "boolean"}, "True") != "", "GitHub's allowed values are lower case"
    for number in ("10", "-3", "+0.5", ".5", "1e-3", "2."):
        assert d.input_value_problem({"type": "number"}, number) == "", number
    for text in ("", "ten", "1,5", "0x10", " 1", "1e"):
        assert d.input_value_problem({"type": "number"}, text) == "is a number", text
    assert d.input_value_problem({"type": "string"}, "") == d.input_value_problem({}, "anything") == ""


def test_declared_dispatch_inputs_reads_every_spelling_of_the_trigger() -> None:
    assert d.declared_dispatch_inputs(WORKFLOW)["key"] == {"required": False, "type": "string"}
    assert d.declared_dispatch_inputs("on: workflow_dispatch\njobs: {}\n") == {}
    assert d.declared_dispatch_inputs("on: [push, workflow_dispatch]\n") == {}
    assert d.declared_dispatch_inputs("on:\n  workflow_dispatch:\n    inputs:\n      sha:\n") == {"sha": {}}
    assert d.declared_dispatch_inputs("on: [push]\n") is None
    assert d.declared_dispatch_inputs("on: {workflow_dispatch: [\n") is None, "not YAML"
    assert d.declared_dispatch_inputs("!!python/object:os.system {}\n") is None, "safe loader"
    assert d.declared_dispatch_inputs("- a list\n") is None


NO_KEY_WORKFLOW = """name: deploy
run-name: deploy ${{ inputs.action }} ${{ inputs.sha }}
on:
  workflow_dispatch:
    inputs:
      action: {required: true, type: string}
      sha: {required: true}
      weight: {type: string}
jobs: {deploy: {runs-on: ubuntu-latest, steps: [{run: ./deploy.sh}]}}
"""


def _finish_next_run(sb, repo, conclusion: str = "success") -> threading.Thread:  # noqa: ANN001 - Sandbox
    def play() -> None:
        import time

        for _ in range(400):
            with sb.world.lock:
                runs = [r for r in repo.workflow_runs.values() if r.status != "completed"]
            if runs:
                sb.finish_workflow_run(repo, runs[0].id, conclusion)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=play)
    thread.start()
    return thread


def test_a_workflow_without_a_key_input_still_deploys_with_a_visible_note(sb) -> None:  # noqa: ANN001
    """The default inputs carry `key`; a workflow that does not declare it (nor `environment`) still deploys
    (GitHub would refuse the undeclared inputs with a 422): only declared inputs are sent, and the run gets
    the note that a crash mid-action means a rollback."""
    repo = sb.create_repo("acme", "shop", files={".github/workflows/deploy.yml": NO_KEY_WORKFLOW, "README.md": "x"})
    dep = _workflow_deployer(sb)()
    sha = _head(sb, repo)
    for _ in range(2):  # the second dispatch reads the same blob: parsed once
        runner = _finish_next_run(sb, repo)
        outcome = dep.run("deploy_canary", sha=sha, weight=10, environment="canary", key="trunkline-3-1")
        runner.join()
        assert outcome.ok, outcome.detail
        assert d.NO_KEY_NOTE in outcome.data["notes"]
        assert any("`environment`" in n and "not sent" in n for n in outcome.data["notes"])
    with sb.world.lock:
        inputs = [r.inputs for r in sorted(repo.workflow_runs.values(), key=lambda r: r.id)]
    assert inputs == [{"action": "canary", "sha": sha, "weight": "10"}] * 2
    import hashlib

    blob = hashlib.sha1(b"blob %d\0" % len(NO_KEY_WORKFLOW.encode()) + NO_KEY_WORKFLOW.encode()).hexdigest()
    assert ("acme/shop", "deploy.yml", blob) in d._DECLARED, "cached per (repo, workflow, blob sha)"


def test_a_required_input_the_config_cannot_fill_fails_the_action_clearly(sb) -> None:  # noqa: ANN001
    text = NO_KEY_WORKFLOW.replace("weight: {type: string}", "weight: {type: string}\n      region: {required: true}")
    repo = sb.create_repo("acme", "shop", files={".github/workflows/deploy.yml": text, "README.md": "x"})
    outcome = _workflow_deployer(sb)().run("deploy_canary", sha=_head(sb, repo), weight=10, environment="canary",
                                           key="trunkline-3-1")
    assert not outcome.ok and "deploy.yml requires input `region`" in outcome.detail
    assert "deploy.workflow.inputs" in outcome.detail
    with sb.world.lock:
        assert repo.workflow_runs == {}, "nothing dispatched"
    rec = c.new_record("acme/shop", SHA, c.Plan(steps=(c.Step(10, 3.0),)), now=1.0)
    rec, actions = c.step(rec, c.Observation(2.0, production_sha="b" * 40))
    results = tuple(c.Result(a.id, False, dict(outcome.data), outcome.detail) if a.deployer
                    else c.Result(a.id, True, {"id": 7} if a.kind == c.CREATE_DEPLOYMENT else {}) for a in actions)
    rec, actions = c.step(rec, c.Observation(3.0, results=results, production_sha="b" * 40))
    assert "requires input `region`" in rec.reason, "the run (and its page) says why"
    statuses = [a for a in actions if a.kind == c.DEPLOYMENT_STATUS]
    assert any("requires input `region`" in str(a.args.get("description")) for a in statuses)


TYPED_WORKFLOW = """name: deploy
run-name: deploy ${{ inputs.action }} ${{ inputs.sha }} [${{ inputs.key }}]
on:
  workflow_dispatch:
    inputs:
      action: {required: true, type: choice, options: [canary, weight, promote, rollback]}
      sha: {required: true, type: string}
      environment: {required: true, type: choice, options: [staging, production]}
      weight: {type: number, default: 0}
      key: {type: string}
jobs: {deploy: {runs-on: ubuntu-latest, steps: [{run: ./deploy.sh}]}}
"""


def test_a_value_outside_a_choice_fails_the_action_naming_the_allowed_values(sb) -> None:  # noqa: ANN001
    """The config sends environment=canary to a workflow whose `environment` is a choice of staging and
    production: the action fails before dispatching, with a message naming the input and the allowed values
    (GitHub would answer a bare 422), and the run's reason and deployment status say so."""
    repo = sb.create_repo("acme", "shop", files={".github/workflows/deploy.yml": TYPED_WORKFLOW, "README.md": "x"})
    outcome = _workflow_deployer(sb)().run("deploy_canary", sha=_head(sb, repo), weight=10, environment="canary",
                                           key="trunkline-3-1")
    assert not outcome.ok
    assert outcome.detail.startswith("deploy.yml: input `environment` is a choice; the allowed values are "
                                     "`staging`, `production`, but the deploy config sends `canary`")
    with sb.world.lock:
        assert repo.workflow_runs == {}, "nothing dispatched"
    rec = c.new_record("acme/shop", SHA, c.Plan(steps=(c.Step(10, 3.0),)), now=1.0)
    rec, actions = c.step(rec, c.Observation(2.0, production_sha="b" * 40))
    results = tuple(c.Result(a.id, False, dict(outcome.data), outcome.detail) if a.deployer
                    else c.Result(a.id, True, {"id": 7} if a.kind == c.CREATE_DEPLOYMENT else {}) for a in actions)
    rec, actions = c.step(rec, c.Observation(3.0, results=results, production_sha="b" * 40))
    assert "the allowed values are `staging`, `production`" in rec.reason
    statuses = [a for a in actions if a.kind == c.DEPLOYMENT_STATUS]
    assert any("input `environment` is a choice" in str(a.args.get("description")) for a in statuses)


def test_typed_inputs_that_fit_dispatch_and_an_empty_weight_is_left_to_the_default(sb) -> None:  # noqa: ANN001
    """environment=production fits; a promote has no weight ({weight} is empty): the number input is left out
    and GitHub's default (0) applies instead of a 422."""
    repo = sb.create_repo("acme", "shop", files={".github/workflows/deploy.yml": TYPED_WORKFLOW, "README.md": "x"})
    dep = _workflow_deployer(sb)()
    sha = _head(sb, repo)
    runner = _finish_next_run(sb, repo)
    outcome = dep.run("promote", sha=sha, weight=None, environment="production", key="trunkline-3-2")
    runner.join()
    assert outcome.ok, outcome.detail
    assert any("`weight`" in n and "empty for this action" in n for n in outcome.data["notes"])
    with sb.world.lock:
        (run,) = repo.workflow_runs.values()
    assert run.inputs == {"action": "promote", "sha": sha, "environment": "production", "weight": 0,
                          "key": "trunkline-3-2"}


def test_a_workflow_file_missing_on_the_ref_or_without_dispatch_fails_clearly(sb) -> None:  # noqa: ANN001
    repo = sb.create_repo("acme", "shop", files={".github/workflows/deploy.yml": "on: [push]\njobs: {}\n",
                                                 "README.md": "x"})
    outcome = _workflow_deployer(sb)().run("promote", sha=_head(sb, repo), weight=None, environment="production")
    assert not outcome.ok and "no `on: workflow_dispatch` trigger" in outcome.detail
