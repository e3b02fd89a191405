"""Every action in ``actions/`` and every workflow in ``.github/workflows/``: valid for GitHub (SchemaStore
schemas shipped with check-jsonschema), zizmor-clean at medium and above, documented, and each action
tested by running it with the local runner (``tests/actions_runner.py``)."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actions_runner import VENV_BIN, base_environment, condition, expand, git_repo, run_action  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ACTIONS = sorted(p.parent.name for p in (REPO / "actions").glob("*/action.yml"))
WORKFLOWS = sorted(p.name for p in (REPO / ".github" / "workflows").glob("*.yml"))
EXPECTED_ACTIONS = {"setup", "verify", "ratchet", "contracts", "probe", "flaky"}
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
ZIZMOR_CONFIG = REPO / ".github" / "zizmor.yml"
# Trunkline's repository slug (app.yml's url): the reusable workflows name our actions by it, `SLUG/actions/<name>@v1`
SLUG = urlparse(YAML(typ="safe", pure=True).load((REPO / "app.yml").read_text())["url"]).path.strip("/")
REUSABLE = ("tier-0.yml", "tier-1.yml", "nightly.yml", "weekly.yml")


def load(path: Path) -> dict:
    return YAML(typ="safe", pure=True).load(path.read_text())


def action(name: str) -> dict:
    return load(REPO / "actions" / name / "action.yml")


# ---------------------------------------------------------------------------------------- static checks

def test_every_action_of_the_issue_exists() -> None:
    assert EXPECTED_ACTIONS <= set(ACTIONS)


@pytest.mark.slow
def test_actions_and_workflows_validate_against_the_schemastore_schemas() -> None:
    actions = [str(REPO / "actions" / a / "action.yml") for a in ACTIONS]
    workflows = [str(REPO / ".github" / "workflows" / w) for w in WORKFLOWS]
    for schema, files in (("vendor.github-actions", actions), ("vendor.github-workflows", workflows)):
        proc = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, *files],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_zizmor_finds_nothing_of_medium_severity_or_more() -> None:
    exe = BIN / "zizmor"
    if not exe.exists():
        pytest.skip("zizmor is not installed in this environment")
    proc = subprocess.run([str(exe), "--offline", "--config", str(ZIZMOR_CONFIG), "--min-severity", "medium",
                           str(REPO / ".github" / "workflows"), str(REPO / "actions")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_config_lets_only_our_own_actions_be_pinned_by_tag(tmp_path: Path) -> None:
    config = load(ZIZMOR_CONFIG)
    assert config["rules"]["unpinned-uses"]["config"]["policies"] == {f"{SLUG}/*": "ref-pin"}
    exe = BIN / "zizmor"
    if not exe.exists():
        pytest.skip("zizmor is not installed in this environment")
    workflow = tmp_path / "probe.yml"
    workflow.write_text(
        "name: probe\non: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    permissions: {}\n"
        f"    steps:\n      - uses: {SLUG}/actions/verify@v1\n      - uses: actions/setup-python@v5\n"
        f"      - uses: {SLUG}-lookalike/actions@v1\n")
    proc = subprocess.run([str(exe), "--offline", "--config", str(ZIZMOR_CONFIG), "--format", "json", str(workflow)],
                          capture_output=True, text=True, check=False)
    flagged = {loc["concrete"]["feature"].strip() for f in json.loads(proc.stdout) if f["ident"] == "unpinned-uses"
               for loc in f["locations"] if loc["symbolic"]["kind"] == "Primary"}
    # ours may follow the release tag; third-party actions, GitHub's own included, must be pinned to a SHA
    assert flagged == {"actions/setup-python@v5", f"{SLUG}-lookalike/actions@v1"}, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ACTIONS)
def test_action_is_documented_branded_and_keeps_expressions_out_of_run(name: str) -> None:
    doc = action(name)
    assert doc["runs"]["using"] == "composite"
    assert set(doc["branding"]) == {"icon", "color"} and doc["description"].strip()
    for key in ("inputs", "outputs"):
        assert doc.get(key), f"{name}: no {key}"
        for item, spec in doc[key].items():
            assert str(spec.get("description") or "").strip(), f"{name}: {key}.{item} has no description"
    for step in doc["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), f"{name}: expression inside run: of {step.get('name')!r}"
        if "run" in step:
            assert step.get("shell") == "bash"
        # no nested action: `uses:` of a sibling would need the draft self-repository syntax, not on every runner
        assert "uses" not in step, f"{name}: {step['uses']}"
        for value in (step.get("env") or {}).values():
            assert "github.event" not in str(value) or name == "contracts"


def test_every_action_but_setup_installs_trunkline_through_the_setup_script() -> None:
    setup = action("setup")["runs"]["steps"][0]
    assert setup["run"] == 'bash "$GITHUB_ACTION_PATH/setup.sh"'
    assert (REPO / "actions" / "setup" / "setup.sh").is_file()
    for name in set(ACTIONS) - {"setup"}:
        first = action(name)["runs"]["steps"][0]
        assert first["run"] == 'bash "$GITHUB_ACTION_PATH/../setup/setup.sh"', name
        assert first["shell"] == "bash", name
        # every variable the script reads is set by the step, so a job's env of the same name cannot leak in
        assert set(first["env"]) == set(setup["env"]), name
        assert first["env"]["VERSION"] == "${{ inputs.trunkline-version }}", name
        assert first["env"]["IF_MISSING"] == "${{ inputs.trunkline-version == '' }}", name
        assert "trunkline-version" in action(name)["inputs"], name


def _jobs(name: str) -> dict:
    return load(REPO / ".github" / "workflows" / name)["jobs"]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflows_declare_least_privilege_per_job_and_pin_third_party_actions(name: str) -> None:
    doc = load(REPO / ".github" / "workflows" / name)
    assert doc.get("permissions") == {}, f"{name}: the workflow-level permissions must be empty"
    for job_id, job in doc["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{name}: job {job_id} declares no permissions"
        assert all(v in ("read", "none") for v in perms.values()), f"{name}/{job_id}: {perms}"
        for step in job.get("steps") or []:
            uses = step.get("uses")
            if uses and uses.startswith(f"{SLUG}/"):  # ours, released with the workflow (.github/zizmor.yml)
                assert uses.endswith("@v1"), f"{name}/{job_id}: {uses} is not the release tag of the workflows"
            elif uses and not uses.startswith("./"):
                assert SHA_PIN.match(uses), f"{name}/{job_id}: {uses} is not pinned to a commit SHA"
            if "run" in step:
                assert "${{" not in step["run"], f"{name}/{job_id}: expression inside run:"
            if uses and uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def _on(name: str) -> dict:
    doc = load(REPO / ".github" / "workflows" / name)
    return doc.get("on", doc.get(True))


@pytest.mark.parametrize(("name", "cron", "tier"), [("nightly.yml", "0 3 * * *", "nightly"),
                                                    ("weekly.yml", "0 4 * * 0", "weekly")])
def test_nightly_and_weekly_are_reusable_scheduled_and_dispatchable(name: str, cron: str, tier: str) -> None:
    on = _on(name)
    assert on["schedule"] == [{"cron": cron}]
    assert {"tier", "sha"} <= set(on["workflow_dispatch"]["inputs"])  # what the bot's /verify sends
    assert {"commands", "budget", "setup-command", "results"} <= set(on["workflow_call"]["inputs"])
    steps = next(iter(_jobs(name).values()))["steps"]
    verify = [s for s in steps if s.get("uses") in ("./actions/verify", f"{SLUG}/actions/verify@v1")]
    assert len(verify) == 2 and all(s["with"]["tier"] == f"${{{{ inputs.tier || '{tier}' }}}}" for s in verify)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "trunkline-report" and upload["if"] == "${{ !cancelled() }}"
    config = load(REPO / ".github" / "trunkline.yml")
    assert config["tiers"][tier]["workflow"] == name and config["tiers"][tier]["commands"] == [f"make verify-{tier}"]


@pytest.mark.parametrize("name", ["tier-0.yml", "tier-1.yml"])
def test_tier_workflows_are_reusable_with_commands_and_budgets(name: str) -> None:
    inputs = _on(name)["workflow_call"]["inputs"]
    assert {"commands", "budget", "setup-command", "timeout-minutes", "config"} <= set(inputs)
    assert all(spec.get("description") for spec in inputs.values())


def test_own_ci_runs_tier_0_on_push_tier_1_on_pull_requests_and_the_actions() -> None:
    on, jobs = _on("ci.yml"), _jobs("ci.yml")
    assert set(on) == {"push", "pull_request"}
    assert jobs["tier-0"]["uses"] == "./.github/workflows/tier-0.yml" and "push" in jobs["tier-0"]["if"]
    assert jobs["tier-1"]["uses"] == "./.github/workflows/tier-1.yml" and "pull_request" in jobs["tier-1"]["if"]
    used = {s.get("uses") for s in jobs["dogfood"]["steps"]}
    assert {f"./actions/{a}" for a in ("setup", "contracts", "flaky", "probe")} <= used


def _all_uses() -> list[tuple[str, str]]:
    """Every ``uses:`` of the workflows (jobs and steps) and of the actions' steps, with where it is."""
    found = []
    for name in WORKFLOWS:
        for job_id, job in _jobs(name).items():
            found += [(f"{name}/{job_id}", str(item["uses"])) for item in (job, *(job.get("steps") or []))
                      if "uses" in item]
    for name in ACTIONS:
        found += [(f"actions/{name}", str(step["uses"])) for step in action(name)["runs"]["steps"] if "uses" in step]
    return found


def test_no_workflow_or_action_uses_the_draft_self_repository_syntax() -> None:
    """A ``uses:`` that starts with a dollar sign is the draft self-repository syntax (actions/runner#4457, behind
    a feature flag): our users' runners do not run it. ``./`` after checkout, or ``SLUG/actions/<name>@v1``."""
    uses = _all_uses()
    assert len(uses) > 20
    draft = [(where, u) for where, u in uses if u.lstrip().startswith("$")]
    assert not draft, draft
    for where, u in uses:
        if u.startswith("./"):
            assert (REPO / u[2:]).exists(), f"{where}: {u} is not in this repository"


def _ctx(repository: str, **inputs: object) -> dict:
    return {"github": {"repository": repository, "event_name": "schedule"}, "inputs": inputs, "steps": {},
            "env": {}, "runner": {}, "job": {"status": "success"}}


@pytest.mark.parametrize("name", REUSABLE)
def test_reusable_workflows_take_our_actions_from_the_release_and_from_the_checkout_only_at_home(name: str) -> None:
    """Called from another repository, ``./actions`` would be the caller's: each Trunkline step uses
    ``SLUG/actions/<name>@v1`` there, and its twin (same inputs) runs this checkout's ``./actions`` in Trunkline's own
    repository (ci.yml, the schedules) — exactly one of the two, whatever the repository."""
    assert "workflow_call" in _on(name)
    (job,) = _jobs(name).values()
    steps = job["steps"]
    here = [s for s in steps if str(s.get("uses", "")).startswith("./")]
    released = [s for s in steps if str(s.get("uses", "")).startswith(f"{SLUG}/")]
    assert here and len(here) == len(released)
    assert [s["uses"] for s in released] == [f"{SLUG}/{s['uses'][2:]}@v1" for s in here]
    inputs = {"contracts": True, "ratchets": True, "trunkline-version": ""}
    for own, other in zip(here, released, strict=True):
        assert own.get("with") == other.get("with"), own["uses"]
        for repository, at_home in ((SLUG, True), (SLUG.upper(), True), ("acme/app", False),
                                    (f"acme/{SLUG.split('/')[1]}", False), (f"{SLUG}-fork", False)):
            ctx = _ctx(repository, **inputs)
            assert condition(own.get("if"), ctx, status="success") is at_home, (own["uses"], repository)
            assert condition(other.get("if"), ctx, status="success") is not at_home, (other["uses"], repository)
    # a verdict output (tier-0/tier-1) comes from whichever verify step ran
    for output in (_on(name)["workflow_call"].get("outputs") or {}).values():
        key = re.fullmatch(r"\$\{\{ jobs\.[\w-]+\.outputs\.([\w-]+) \}\}", output["value"]).group(1)
        value = job["outputs"][key]
        for ran in ("verify", "verify-here"):
            steps_ctx = {"verify": {"outputs": {}}, "verify-here": {"outputs": {}}, ran: {"outputs": {key: "passed"}}}
            assert expand(value, {**_ctx(SLUG), "steps": steps_ctx}) == "passed"


@pytest.mark.parametrize("name", REUSABLE)
def test_reusable_workflows_install_the_trunkline_version_they_are_given(name: str) -> None:
    """``trunkline-version`` reaches actions/setup (both copies), first among Trunkline's steps: a version or pip
    requirement is installed even when a trunkline is on PATH; empty (or absent, on a schedule) = if missing."""
    steps = next(iter(_jobs(name).values()))["steps"]
    ours = [s for s in steps if str(s.get("uses", "")).startswith(("./", f"{SLUG}/"))]
    setups = [s for s in ours if s["uses"] in ("./actions/setup", f"{SLUG}/actions/setup@v1")]
    assert len(setups) == 2 and ours[:2] == setups
    for step in setups:
        for given, version, if_missing in (({"trunkline-version": "0.1.0"}, "0.1.0", "false"),
                                           ({"trunkline-version": "trunkline @ git+https://h/t@a1"},
                                            "trunkline @ git+https://h/t@a1", "false"),
                                           ({"trunkline-version": ""}, "", "true"), ({}, "", "true")):
            ctx = _ctx("acme/app", **given)
            assert expand(step["with"]["version"], ctx) == version, step
            assert expand(step["with"]["if-missing"], ctx) == if_missing, (step, given)


# ---------------------------------------------------------------------------------------- running them

@pytest.mark.slow
def test_setup_reuses_a_venv_with_this_checkout_and_puts_it_on_path(tmp_path: Path) -> None:
    ws = git_repo(tmp_path / "ws", {"README.md": "x\n"})
    venv = VENV_BIN.parent
    result = run_action(REPO / "actions" / "setup", {"venv": str(venv)}, workspace=ws)
    assert result.ok, result.log
    assert result.outputs["installed"] == "false" and result.outputs["bin"] == str(venv / "bin")
    assert result.outputs["version"] and result.path == [str(venv / "bin")]
    assert "Using the installation" in result.summary

    # trunkline already on PATH (the other actions' default): nothing installed, PATH untouched
    result = run_action(REPO / "actions" / "setup", {"if-missing": "true"}, workspace=ws)
    assert result.ok and result.outputs["installed"] == "false" and result.path == []

    result = run_action(REPO / "actions" / "setup", {"install-deps": "maybe"}, workspace=ws)
    assert not result.ok and "install-deps must be true or false" in result.log


@pytest.mark.slow
def test_setup_installs_this_checkout_into_a_fresh_venv(tmp_path: Path) -> None:
    """The default on a runner: a new virtualenv, Trunkline from the action's own checkout."""
    ws = git_repo(tmp_path / "ws", {"README.md": "x\n"})
    venv = tmp_path / "venv"
    result = run_action(REPO / "actions" / "setup", {"python": sys.executable, "venv": str(venv)}, workspace=ws,
                        timeout=600)
    assert result.ok, result.log
    assert result.outputs["installed"] == "true" and result.path == [str(venv / "bin")]
    proc = subprocess.run([str(venv / "bin" / "trunkline"), "report", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


TIERS = """\
tiers:
  tier-0:
    commands: ["echo fine"]
"""


@pytest.mark.slow
def test_an_action_without_trunkline_on_path_runs_the_setup_script_and_puts_the_venv_on_path(
        tmp_path: Path) -> None:
    """verify's first step runs actions/setup/setup.sh from the action's own checkout: no trunkline on PATH,
    so it takes the virtualenv in $RUNNER_TEMP (here this checkout's own, already installed: no pip) and
    adds its bin to GITHUB_PATH, where the tier step finds `trunkline`."""
    ws = git_repo(tmp_path / "ws", {".github/trunkline.yml": TIERS})
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    (temp / "trunkline-venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
    machine = base_environment()
    machine["PATH"] = os.pathsep.join(p for p in machine["PATH"].split(os.pathsep) if Path(p) != VENV_BIN)
    assert shutil.which("trunkline", path=machine["PATH"]) is None
    # the job's variables named like the script's inputs do not reach it
    result = run_action(REPO / "actions" / "verify", {"tier": "tier-0"}, workspace=ws, runner_temp=temp,
                        base_env=machine, env={"VERSION": "9.9.9", "VENV": str(tmp_path / "elsewhere")})
    assert result.ok, result.log
    setup = result.step("__step0")
    assert setup.outputs["installed"] == "false" and setup.outputs["bin"] == str(temp / "trunkline-venv" / "bin")
    assert result.path == [str(temp / "trunkline-venv" / "bin")]
    assert result.outputs["verdict"] == "passed" and "Using the installation" in result.summary


@pytest.mark.slow
def test_verify_runs_the_tier_and_reports(tmp_path: Path) -> None:
    ws = git_repo(tmp_path / "ws", {".github/trunkline.yml": TIERS})
    result = run_action(REPO / "actions" / "verify", {"tier": "tier-0"}, workspace=ws)
    assert result.ok, result.log
    assert result.outputs["verdict"] == "passed" and result.outputs["conclusion"] == "success"
    assert json.loads(Path(result.outputs["result"]).read_text())["verdict"] == "passed"
    assert "tier-0 passed" in result.summary
    assert result.step("__step0").outcome == "success"  # setup found trunkline on PATH
    assert result.step("__step0").outputs["installed"] == "false" and result.path == []

    # commands and budget from inputs (the reusable workflows' inputs), failing
    result = run_action(REPO / "actions" / "verify", {"tier": "tier-0", "commands": "echo one\nexit 4",
                                                      "budget": "30s"}, workspace=ws)
    assert not result.ok
    assert result.outputs["verdict"] == "failed" and "30s budget" in result.summary
    # a tier the configuration lacks, made from the inputs alone
    result = run_action(REPO / "actions" / "verify", {"tier": "smoke", "commands": "true"}, workspace=ws)
    assert result.ok and result.outputs["verdict"] == "passed", result.log


@pytest.mark.slow
def test_ratchet_checks_the_floors(tmp_path: Path) -> None:
    ws = git_repo(tmp_path / "ws", {
        ".github/trunkline-ratchets.yml": "version: 1\nmetrics:\n  flaky:\n    kind: json\n    file: flaky.json\n"
                                          "    pointer: /flaky_rate\n    direction: lower\n    ceiling: 5\n",
        "flaky.json": json.dumps({"flaky_rate": 2.0})})
    result = run_action(REPO / "actions" / "ratchet", {}, workspace=ws)
    assert result.ok, result.log
    assert result.outputs["verdict"] == "pass" and "flaky" in result.outputs["table"]
    assert "flaky" in result.summary

    (ws / "flaky.json").write_text(json.dumps({"flaky_rate": 9.0}))
    result = run_action(REPO / "actions" / "ratchet", {}, workspace=ws)
    assert not result.ok and result.outputs["verdict"] == "fail"

    result = run_action(REPO / "actions" / "ratchet", {"mode": "sideways"}, workspace=ws)
    assert not result.ok and "mode must be check or update" in result.log


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        ok = self.path == "/health"
        self.send_response(200 if ok else 503)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}' if ok else b'{"status": "down"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service() -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


PROBES = """\
deploy:
  deployer: command
  command:
    canary: "true"
    promote: "true"
    rollback: "true"
    status: "true"
  probes:
    - {name: health, path: /health, expect_status: 200}
    - {name: home, path: /, expect_status: 200}
"""


@pytest.mark.slow
def test_probe_runs_the_deploy_probes_once(tmp_path: Path, service: str) -> None:
    if subprocess.run([str(VENV_BIN / "trunkline"), "probe", "--help"], capture_output=True).returncode != 0:
        pytest.skip("trunkline probe is not part of this installation")
    ws = git_repo(tmp_path / "ws", {".github/trunkline.yml": PROBES})
    result = run_action(REPO / "actions" / "probe", {"url": service, "probe": "health"}, workspace=ws)
    assert result.ok, result.log
    assert result.outputs["conclusion"] == "success" and "health" in result.summary
    assert json.loads(Path(result.outputs["result"]).read_text())

    result = run_action(REPO / "actions" / "probe", {"url": service}, workspace=ws)  # / answers 503
    assert not result.ok and result.outputs["conclusion"] == "failure"
    assert "did not pass" in result.log

    result = run_action(REPO / "actions" / "probe", {"url": "ftp://x"}, workspace=ws)
    assert not result.ok and "url must start with http" in result.log
