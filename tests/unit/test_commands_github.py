"""The command package's GitHub side against a real sandbox GitHub, with Trunkline's own App client:
reactions, the reply (idempotent across retries), the Git Data API push behind ``/generate`` and the
``/generate`` command itself with a stand-in engine (the contracts engine is tested by its own suite).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trunkline.commands import gitdata
from trunkline.commands.builtin import generate as generate_module
from trunkline.commands.feedback import split_sections, updated_reply
from trunkline.commands.gitdata import BranchMoved, Change, Entry, blob_id, tree_changes
from trunkline.commands.github_io import add_reaction, post_reply
from trunkline.commands.invocation import Invocation, Session
from trunkline.commands.parser import parse_commands
from trunkline.commands.registry import load_builtin
from trunkline.config.model import TrunklineConfig
from trunkline.sandbox import git as sandbox_git

REPO = "acme/widgets"
# The engine is a stand-in here, so the contracts section only has to say "there are sources"
# (its exact schema belongs to the contracts work).
WITH_CONTRACTS = TrunklineConfig().model_copy(update={"contracts": SimpleNamespace(sources=["contracts/api.yaml"])})
FILES = {"README.md": "# widgets\n", "api/models.py": "OLD = 1\n", "api/stale.py": "gone soon\n",
         "tools/gen.sh": "echo gen\n"}


@dataclass
class World:
    sb: Any
    app: Any
    client: Any

    @property
    def repository(self) -> Any:
        return self.client.repo("acme", "widgets")

    def session(self, number: int, actor: str = "dev", config: TrunklineConfig | None = None) -> Session:
        reg = load_builtin()
        return Session(owner="acme", repo="widgets", number=number, is_pr=True, actor=actor, comment_id=1,
                       config=config or WITH_CONTRACTS, registry=reg, github=self.client)

    def comments(self, number: int) -> list[Any]:
        with self.sb.world.lock:
            return [c for c in self.sb.repo(REPO).comments.values() if c.issue_number == number]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    from trunkline.github.client import AppClient
    from trunkline.sandbox.actors import Sandbox

    sb = Sandbox(tmp_path / "sandbox").start()
    try:
        app = sb.create_app("trunkline", owner="trunkline-dev", webhook_url=None, secret="s")
        sb.create_repo("acme", "widgets", files=FILES)
        sb.install(app, "acme")
        sb.grant(REPO, "dev", "write")
        installation = sb.installation_of(app, REPO)
        yield World(sb, app, AppClient(app.id, app.private_key_pem or "", sb.url).installation(installation.id))
    finally:
        sb.stop()


def open_pr(world: World, branch: str = "feature") -> tuple[int, str]:
    sha = world.sb.push(REPO, branch, {"app.py": "x = 1\n"}, "work", as_user="dev")
    return world.sb.open_pr(REPO, head=branch, title="Work", as_user="dev"), sha


# ---------------------------------------------------------------------------------------- reactions / reply

@pytest.mark.slow
def test_reaction_tells_a_retry_apart(world: World) -> None:
    number, _ = open_pr(world)
    comment_id = world.sb.comment(REPO, number, "/hold", as_user="dev")
    assert add_reaction(world.client, "acme", "widgets", comment_id, "eyes") is True
    assert add_reaction(world.client, "acme", "widgets", comment_id, "eyes") is False
    assert add_reaction(world.client, "acme", "widgets", comment_id, "rocket") is True
    with world.sb.world.lock:
        reactions = [(r.content, r.user) for r in world.sb.repo(REPO).comments[comment_id].reactions]
    assert reactions == [("eyes", "trunkline[bot]"), ("rocket", "trunkline[bot]")]


@pytest.mark.slow
def test_reply_is_posted_once_and_edited_on_retry(world: World) -> None:
    number, _ = open_pr(world)
    comment_id = world.sb.comment(REPO, number, "/hold", as_user="dev")
    other_id = world.sb.comment(REPO, number, "/help", as_user="dev")
    def build(cid: int, key: str, text: str) -> Any:
        return lambda existing: updated_reply(existing, cid, key, text)

    post_reply(world.repository, number, other_id, build(other_id, "created", "other"), app_id=world.app.id,
               look_for_existing=False)
    first = post_reply(world.repository, number, comment_id, build(comment_id, "created", "first"),
                       app_id=world.app.id, look_for_existing=False)
    again = post_reply(world.repository, number, comment_id, build(comment_id, "created", "second"),
                       app_id=world.app.id, look_for_existing=True)
    edit = post_reply(world.repository, number, comment_id, build(comment_id, "edited-x", "third"),
                      app_id=world.app.id, look_for_existing=True)
    assert again.id == first.id == edit.id
    ours = [c for c in world.comments(number) if f"comment={comment_id}" in c.body]
    assert len(ours) == 1
    assert [text for _, text in split_sections(ours[0].body)] == ["second", "third"]
    assert ours[0].performed_via_app_id == world.app.id
    others = [c for c in world.comments(number) if f"comment={other_id}" in c.body]
    assert [text for _, text in split_sections(others[0].body)] == ["other"]


# ---------------------------------------------------------------------------------------- tree changes (pure)

@given(st.dictionaries(st.from_regex(r"[a-z]{1,4}(/[a-z]{1,4}){0,2}", fullmatch=True),
                       st.tuples(st.sampled_from(gitdata.FILE_MODES), st.binary(max_size=20)), max_size=6),
       st.dictionaries(st.from_regex(r"[a-z]{1,4}(/[a-z]{1,4}){0,2}", fullmatch=True),
                       st.tuples(st.sampled_from(gitdata.FILE_MODES), st.binary(max_size=20)), max_size=6))
def test_tree_changes_turn_before_into_after(before: dict[str, tuple[str, bytes]],
                                             after: dict[str, tuple[str, bytes]]) -> None:
    entries = {path: Entry(mode, blob_id(data)) for path, (mode, data) in before.items()}
    changes = tree_changes(entries, after)
    assert [c.path for c in changes] == sorted(c.path for c in changes)
    result = dict(before)
    for change in changes:
        if change.mode is None:
            del result[change.path]
        else:
            result[change.path] = (change.mode, change.content)
    assert result == after
    assert all(before.get(c.path) != after.get(c.path) for c in changes)  # nothing needless


@pytest.mark.slow
def test_blob_id_matches_git(world: World) -> None:
    repo = world.sb.repo(REPO)
    with world.sb.world.lock:
        assert sandbox_git.write_blob(repo, b"hello\n") == blob_id(b"hello\n")


# ---------------------------------------------------------------------------------------- push via Git Data API

@pytest.mark.slow
def test_fetch_change_push_one_commit(world: World, tmp_path: Path) -> None:
    number, head = open_pr(world)
    root = tmp_path / "copy"
    root.mkdir()
    tree, before = gitdata.fetch_tree(world.repository, head, root)
    assert (root / "api/models.py").read_text() == "OLD = 1\n"
    assert set(before) == set(FILES) | {"app.py"}
    (root / "api/models.py").write_text("NEW = 2\n")
    (root / "api/stale.py").unlink()
    (root / "api/fresh.py").write_text("FRESH = 3\n")
    (root / "tools/gen.sh").chmod(0o755)
    os.symlink("models.py", root / "api/link.py")
    changes = tree_changes(before, gitdata.read_worktree(root))
    assert [(c.path, c.mode) for c in changes] == [
        ("api/fresh.py", "100644"), ("api/link.py", "120000"), ("api/models.py", "100644"),
        ("api/stale.py", None), ("tools/gen.sh", "100755")]
    new_sha = gitdata.push_commit(world.repository, "feature", head, tree, changes, "Regenerate")
    repo = world.sb.repo(REPO)
    with world.sb.world.lock:
        assert sandbox_git.branch_sha(repo, "feature") == new_sha
        assert sandbox_git.rev_list(repo, f"{head}..{new_sha}") == [new_sha]  # exactly one commit
        assert sandbox_git.blob_at(repo, new_sha, "api/models.py")[1] == b"NEW = 2\n"
        assert sandbox_git.blob_at(repo, new_sha, "api/stale.py") is None
        assert sandbox_git.entry_at(repo, new_sha, "tools/gen.sh").mode == "100755"
        assert sandbox_git.entry_at(repo, new_sha, "api/link.py").mode == "120000"
        assert sandbox_git.blob_at(repo, new_sha, "README.md")[1] == b"# widgets\n"  # untouched
    pr = world.repository.get_pull(number)
    assert pr.head.sha == new_sha


@pytest.mark.slow
def test_push_refuses_when_branch_moved_before_update(world: World, tmp_path: Path) -> None:
    _, head = open_pr(world)
    tree, before = gitdata.fetch_tree(world.repository, head, tmp_path)
    moved = world.sb.push(REPO, "feature", {"other.txt": "someone else\n"}, "concurrent", as_user="dev")
    with pytest.raises(BranchMoved, match="moved to"):
        gitdata.push_commit(world.repository, "feature", head, tree, [Change("x.py", "100644", b"x\n")], "m")
    with world.sb.world.lock:
        assert sandbox_git.branch_sha(world.sb.repo(REPO), "feature") == moved


@pytest.mark.slow
def test_push_racing_the_ref_update_never_overwrites(world: World, tmp_path: Path) -> None:
    """A push lands after our check but before our ref update: the fast-forward-only update fails."""
    _, head = open_pr(world)
    tree, _ = gitdata.fetch_tree(world.repository, head, tmp_path)
    world.sb.inject("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", latency=1.5)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["sha"] = gitdata.push_commit(world.repository, "feature", head, tree,
                                                 [Change("x.py", "100644", b"x\n")], "m")
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(e.method == "GET" and "/git/ref/" in e.path for e in list(world.sb.request_log)):
            break
        time.sleep(0.01)
    moved = world.sb.push(REPO, "feature", {"other.txt": "raced\n"}, "concurrent", as_user="dev")
    worker.join(20)
    assert isinstance(outcome.get("error"), BranchMoved), outcome
    with world.sb.world.lock:
        assert sandbox_git.branch_sha(world.sb.repo(REPO), "feature") == moved


# ---------------------------------------------------------------------------------------- /generate

REEVALUATED: list[str] = []


def run_generate(world: World, number: int, engine: Any, monkeypatch: pytest.MonkeyPatch,
                 config: TrunklineConfig | None = None) -> Any:
    monkeypatch.setattr(generate_module, "load_engine", lambda module, name: engine)
    monkeypatch.setattr(generate_module, "RUNNER", engine)  # in-process stand-in for the child process
    # the merge service's side is tested end to end; here only that it is asked to look again
    monkeypatch.setattr(generate_module, "reevaluate", lambda session, why: REEVALUATED.append(why) or "")
    session = world.session(number, config=config)
    [command] = parse_commands("/generate")
    spec = session.registry.get("generate")
    return spec.run(Invocation(spec=spec, command=command, params={}, session=session))


@pytest.mark.slow
def test_generate_pushes_one_commit_with_the_engines_changes(world: World,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    number, head = open_pr(world)
    seen: dict[str, Any] = {}

    def engine(root: Path, config: Any) -> None:
        seen["config"] = config
        seen["files"] = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        (root / "api/models.py").write_text("GENERATED = True\n")

    outcome = run_generate(world, number, engine, monkeypatch)
    assert outcome.status == "success", outcome
    assert seen["config"] is WITH_CONTRACTS
    assert seen["files"] == sorted(set(FILES) | {"app.py"})
    repo = world.sb.repo(REPO)
    with world.sb.world.lock:
        new_sha = sandbox_git.branch_sha(repo, "feature")
        assert sandbox_git.rev_list(repo, f"{head}..{new_sha}") == [new_sha]
        assert sandbox_git.blob_at(repo, new_sha, "api/models.py")[1] == b"GENERATED = True\n"
        message = sandbox_git.commit_info(repo, new_sha).message
    assert message.startswith("Regenerate code from contracts")
    assert outcome.message == f"pushed {new_sha[:7]} to `feature`: 1 file regenerated (`api/models.py`)."
    assert REEVALUATED[-1:] == ["generate"]


@pytest.mark.slow
def test_generate_with_nothing_to_change(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    number, head = open_pr(world)
    REEVALUATED.clear()
    outcome = run_generate(world, number, lambda root, config: None, monkeypatch)
    assert outcome.status == "success" and "already matches the contracts; nothing to commit" in outcome.message
    assert REEVALUATED == []
    with world.sb.world.lock:
        assert sandbox_git.branch_sha(world.sb.repo(REPO), "feature") == head


@pytest.mark.slow
def test_generate_reports_engine_failure_and_pushes_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    number, head = open_pr(world)

    def engine(root: Path, config: Any) -> None:
        (root / "api/models.py").write_text("half done\n")
        raise RuntimeError("openapi-typescript not found: npm i -g openapi-typescript")

    outcome = run_generate(world, number, engine, monkeypatch)
    assert outcome.status == "failure"
    assert outcome.message.startswith("the contracts engine failed on") and "nothing was pushed" in outcome.message
    assert outcome.details == "```\nopenapi-typescript not found: npm i -g openapi-typescript\n```"
    with world.sb.world.lock:
        assert sandbox_git.branch_sha(world.sb.repo(REPO), "feature") == head


@pytest.mark.slow
def test_generate_does_not_push_over_a_concurrent_push(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    number, _ = open_pr(world)

    def engine(root: Path, config: Any) -> None:
        (root / "api/models.py").write_text("GENERATED\n")
        world.sb.push(REPO, "feature", {"app.py": "x = 2\n"}, "meanwhile", as_user="dev")

    outcome = run_generate(world, number, engine, monkeypatch)
    assert outcome.status == "failure"
    assert "nothing was pushed. Run `/generate` again." in outcome.message
    with world.sb.world.lock:
        head = sandbox_git.branch_sha(world.sb.repo(REPO), "feature")
        assert sandbox_git.blob_at(world.sb.repo(REPO), head, "app.py")[1] == b"x = 2\n"


@pytest.mark.slow
def test_generate_refuses_without_the_engine(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    number, head = open_pr(world)
    outcome = run_generate(world, number, None, monkeypatch)
    assert outcome.status == "refused"
    assert outcome.message.startswith("not available yet: code generation")


def make_fork(sb: Any, parent_name: str, owner: str) -> Any:
    """A fork of ``parent_name`` owned by ``owner`` (the sandbox has no fork endpoint yet)."""
    parent = sb.repo(parent_name)
    fork = sb.create_repo(owner, parent.name)
    with sb.world.lock:
        fork.fork_of = parent.id
        sandbox_git.run(fork, "fetch", "--no-tags", "-q", "--force", str(sandbox_git.git_dir(parent)),
                        f"+refs/heads/{parent.default_branch}:refs/heads/{fork.default_branch}")
    return fork


@pytest.mark.slow
def test_generate_refuses_fork_pull_requests(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    make_fork(world.sb, REPO, "outsider")
    world.sb.push("outsider/widgets", "patch", {"app.py": "y = 1\n"}, "fork work", as_user="outsider")
    number = world.sb.open_pr(REPO, head="outsider:patch", title="From a fork", as_user="outsider")
    called = []
    outcome = run_generate(world, number, lambda root, config: called.append(root), monkeypatch)
    assert outcome.status == "refused"
    assert outcome.message.startswith("this pull request comes from `outsider/widgets`; Trunkline only pushes "
                                      "to branches of `acme/widgets`.")
    assert called == []


@pytest.mark.slow
def test_generate_refuses_without_configured_contracts(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    number, _ = open_pr(world)
    called = []
    outcome = run_generate(world, number, lambda root, config: called.append(root), monkeypatch,
                           config=TrunklineConfig())
    assert (outcome.status, called) == ("refused", [])
    assert "no contracts are configured" in outcome.message


def test_code_block_cannot_be_closed_from_inside() -> None:
    assert generate_module.code_block("a ``` b") == "````\na ``` b\n````"
    assert generate_module.code_block("x" * 10, limit=4) == "```\nxxxx\n…\n```"


@pytest.mark.slow
def test_isolated_runner_uses_the_real_engine_in_a_child_process(tmp_path: Path) -> None:
    if generate_module.load_engine(*generate_module.ENGINE) is None:
        pytest.skip("the contracts engine is not installed")
    config = TrunklineConfig.model_validate({"contracts": {"sources": [
        {"path": "api.yaml", "targets": [{"language": "python", "output": "models.py"}]}]}})
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n"
        "    Thing:\n      type: object\n      properties:\n        id: {type: integer}\n")
    generate_module.isolated(tmp_path, config)
    generated = (tmp_path / "models.py").read_text()
    assert "source: api.yaml" in generated and "class Thing" in generated
    (tmp_path / "api.yaml").write_text("openapi: [this is not\n")
    with pytest.raises(generate_module.EngineFailed) as info:
        generate_module.isolated(tmp_path, config)
    assert str(info.value).strip()
    with pytest.raises(generate_module.EngineFailed, match="took longer than"):
        generate_module.isolated(tmp_path, config, timeout=0.01)


# ---------------------------------------------------------------------------------------- never read the bot's host

@pytest.mark.parametrize(("ref", "bad"), [
    ("#/components/schemas/A", False), ("other.yaml#/A", False), ("sub/x.yaml", False), ("./x.yaml", False),
    ("sub/../x.yaml", False), ("../x.yaml", False), ("../../x.yaml", True), ("sub/../../../x.yaml", True),
    ("/etc/passwd", True),
    ("http://169.254.169.254/latest", True), ("file:///etc/passwd#/x", True), ("C:\\x.yaml", True),
    ("~/.ssh/id_rsa", True),
])
def test_ref_problem(ref: str, bad: bool) -> None:
    assert (generate_module.ref_problem("contracts/api.yaml", ref) is not None) is bad


def test_unsafe_refs_follow_references(tmp_path: Path) -> None:
    (tmp_path / "contracts/schemas").mkdir(parents=True)
    (tmp_path / "contracts/api.yaml").write_text(
        "components:\n  schemas:\n    A: {$ref: 'schemas/a.yaml#/A'}\n    B: {$ref: '#/components/schemas/A'}\n")
    (tmp_path / "contracts/schemas/a.yaml").write_text("A:\n  $ref: '../../../secret.yaml#/S'\n")
    assert generate_module.unsafe_refs(tmp_path, ["contracts/api.yaml"]) == [
        "`contracts/schemas/a.yaml` refers to `../../../secret.yaml`, outside the repository"]
    (tmp_path / "contracts/schemas/a.yaml").write_text("A: {type: object}\n")
    assert generate_module.unsafe_refs(tmp_path, ["contracts/api.yaml", "missing.yaml"]) == []


@pytest.mark.slow
def test_generate_refuses_contracts_that_reach_outside(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.sb.push(REPO, "evil", {"contracts/api.yaml": "components:\n  schemas:\n    S: {$ref: '/tmp/x.yaml#/S'}\n"},
                  "exfiltrate", as_user="dev")
    number = world.sb.open_pr(REPO, head="evil", title="Evil", as_user="dev")
    called: list[Path] = []
    outcome = run_generate(world, number, lambda root, config: called.append(root), monkeypatch)
    assert (outcome.status, called) == ("refused", [])
    assert "refer to files outside the repository" in outcome.message
    assert "`contracts/api.yaml` refers to `/tmp/x.yaml`" in outcome.details


@pytest.mark.slow
def test_links_out_of_the_repository_are_not_copied_and_stay_untouched(world: World, tmp_path: Path) -> None:
    from github.InputGitTreeElement import InputGitTreeElement

    _, head = open_pr(world)
    repo = world.repository
    parent = repo.get_git_commit(head)
    tree = repo.create_git_tree([InputGitTreeElement("evil", "120000", "blob", content="/etc/passwd"),
                                 InputGitTreeElement("good", "120000", "blob", content="README.md")],
                                parent.tree)
    commit = repo.create_git_commit("links", tree, [parent])
    ref = repo.get_git_ref("heads/feature")
    assert ref.object.sha == head  # (completes the lazy object: its url becomes .../git/refs/...)
    ref.edit(commit.sha)
    root = tmp_path / "copy"
    root.mkdir()
    base_tree, before = gitdata.fetch_tree(repo, commit.sha, root)
    assert "evil" not in before and not os.path.lexists(root / "evil")
    assert before["good"].mode == "120000" and os.readlink(root / "good") == "README.md"
    (root / "README.md").write_text("changed\n")
    changes = tree_changes(before, gitdata.read_worktree(root))
    assert [c.path for c in changes] == ["README.md"]
    new_sha = gitdata.push_commit(repo, "feature", commit.sha, base_tree, changes, "m")
    with world.sb.world.lock:
        entry = sandbox_git.entry_at(world.sb.repo(REPO), new_sha, "evil")
        assert entry is not None and entry.mode == "120000"


@pytest.mark.parametrize(("path", "link", "inside"), [
    ("a/b", "c", True), ("a/b", "../c", True), ("a/b", "../../c", False), ("b", "/etc/passwd", False),
    ("b", "..", False), ("a/b", "..", True), ("b", ".", True), ("b", "", False), ("b", "C:x", False),
])
def test_link_stays_inside(path: str, link: str, inside: bool) -> None:
    assert gitdata.link_stays_inside(path, link) is inside


def test_safe_path() -> None:
    assert gitdata.safe_path("a/b.txt") and gitdata.safe_path(".github/x.yml")
    assert not any(gitdata.safe_path(p) for p in ("", "/etc", "a/../b", ".git/config", "a//b", "./a"))


def test_child_env_drops_credentials() -> None:
    env = generate_module.child_env({"PATH": "/bin", "HOME": "/h", "TRUNKLINE_PRIVATE_KEY": "k",
                                     "TRUNKLINE_PRIVATE_KEY_PATH": "/k.pem", "TRUNKLINE_WEBHOOK_SECRET": "s",
                                     "TRUNKLINE_NODE_PREFIX": "/n", "TRUNKLINE_DATABASE_URL": "postgres://",
                                     "GITHUB_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "a", "LANG": "C"})
    assert env == {"PATH": "/bin", "HOME": "/h", "TRUNKLINE_NODE_PREFIX": "/n", "LANG": "C"}
