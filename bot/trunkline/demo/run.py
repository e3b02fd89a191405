"""``trunkline demo``: the whole loop, as it exists today, against the sandbox GitHub.

Each capability adds a chapter (a function taking the ``DemoRun``) to ``CHAPTERS``.
The demo prints what a user would see on GitHub and exits non-zero if anything did not happen.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from trunkline.demo.harness import BotHarness

REPO = "acme/widgets"
GOOD_CONFIG = """\
# Trunkline configuration (read from the default branch)
version: 1
merge:
  method: squash      # merge | squash | rebase
  required_approvals: 0
"""
BROKEN_CONFIG = GOOD_CONFIG.replace("method: squash ", "method: squosh ")


@dataclass
class DemoRun:
    harness: BotHarness
    console: Console
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def sandbox(self):  # noqa: ANN201 (Sandbox)
        return self.harness.sandbox

    def step(self, text: str) -> None:
        self.console.print(f"[bold cyan]→[/] {text}")

    def record(self, what: str, ok: bool, detail: str = "") -> None:
        self.results.append((what, ok, detail))
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        self.console.print(f"  {mark} {what}" + (f" — {detail}" if detail else ""))


def chapter_setup(run: DemoRun) -> None:
    sb = run.sandbox
    run.step(f"Sandbox GitHub at [link]{sb.url}[/]; App [bold]{run.harness.app.slug}[/] "
             f"(id {run.harness.app.id}) delivering to {run.harness.webhook_url}")
    sb.create_repo("acme", "widgets", files={
        "README.md": "# widgets\n",
        ".github/trunkline.yml": GOOD_CONFIG,
        "widgets/__init__.py": "def add(a, b):\n    return a + b\n",
    })
    run.harness.install("acme")
    sb.grant(REPO, "dev", "write")
    run.record("repo acme/widgets created from real git commits; App installed; dev has write", True)


def chapter_config_check(run: DemoRun) -> None:
    sb, h = run.sandbox, run.harness
    run.step("dev pushes a feature branch and opens a pull request")
    sha = sb.push(REPO, "feature/sub", {"widgets/__init__.py": "def add(a, b):\n    return a + b\n\n\n"
                                         "def sub(a, b):\n    return a - b\n"}, "Add sub()", as_user="dev")
    number = sb.open_pr(REPO, head="feature/sub", title="Add sub()", as_user="dev")
    check = h.wait_for_check(REPO, sha, "trunkline/config")
    run.record(f"PR #{number}: check run trunkline/config on {sha[:7]} → {check.conclusion}",
               check.conclusion == "success", check.output.get("title", ""))

    run.step("dev opens a pull request that breaks the configuration (a typo: 'squosh')")
    bad_sha = sb.push(REPO, "tweak-config", {".github/trunkline.yml": BROKEN_CONFIG}, "Tweak merge method",
                      as_user="dev")
    bad = sb.open_pr(REPO, head="tweak-config", title="Tweak merge method", as_user="dev")
    check = h.wait_for_check(REPO, bad_sha, "trunkline/config")
    note = check.annotations[0] if check.annotations else {}
    where = f"{note.get('path')}:{note.get('start_line')}:{note.get('start_column')}" if note else "no annotation"
    run.record(f"PR #{bad}: trunkline/config → {check.conclusion}, annotation at {where}",
               check.conclusion == "failure" and bool(note), note.get("message", ""))


def chapter_reliability(run: DemoRun) -> None:
    sb, h = run.sandbox, run.harness
    run.step("GitHub redelivers a webhook (same GUID): Trunkline stores it once and does not act twice")
    sb.wait_for_webhooks()
    opened = [d for d in sb.deliveries("pull_request") if d.action == "opened" and d.status == "OK"]
    before = len(h.check_runs(REPO, _head_of_pr(run, 1), "trunkline/config"))
    sb.world.redeliver_sink(opened[0])
    sb.wait_for_webhooks()
    time.sleep(1.0)
    after = len(h.check_runs(REPO, _head_of_pr(run, 1), "trunkline/config"))
    last = sb.deliveries("pull_request")[-1]
    run.record("redelivery acknowledged as duplicate, still one check run",
               before == after == 1 and last.redelivery and last.status_code == 200,
               f"HTTP {last.status_code}: {last.response_body.strip()[:60]}")

    run.step("A forged webhook (bad signature) is refused")
    import httpx

    response = httpx.post(h.webhook_url, content=b'{"zen": "forged"}', headers={
        "X-GitHub-Event": "ping", "X-GitHub-Delivery": "forged-1", "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + "0" * 64})
    run.record("forged delivery refused", response.status_code == 401, f"HTTP {response.status_code}")

    calls = sum(sb.requests_by_installation.values())
    run.record("REST calls made by the bot (counted by the sandbox per installation)", calls > 0, str(calls))


def chapter_commands(run: DemoRun) -> None:
    sb, h = run.sandbox, run.harness
    repo = sb.repo(REPO)
    sb.grant(REPO, "tri", "triage")

    def answer(comment_id: int) -> tuple[str, list[str]]:
        def done() -> tuple[str, list[str]] | None:
            with sb.world.lock:
                body = next((c.body for c in repo.comments.values() if f"comment={comment_id} -->" in c.body), None)
                reactions = [r.content for r in repo.comments[comment_id].reactions if r.user.endswith("[bot]")]
            return (body, reactions) if body and {"rocket", "confused"} & set(reactions) else None
        return h.wait_for(done, 30, what=f"the reply to comment {comment_id}")

    def result_line(body: str) -> str:
        return next((line[2:] for line in body.splitlines() if line.startswith("- ")), "")

    run.step("dev comments `/hold waiting for the design review` on PR #1; tri (triage) comments `/merge`")
    body, reactions = answer(sb.comment(REPO, 1, "/hold waiting for the design review", as_user="dev"))
    with sb.world.lock:
        held = "do-not-merge" in repo.issues[1].labels
    run.record(f"/hold → label do-not-merge, reactions {' '.join(reactions)}", held and "rocket" in reactions,
               result_line(body))
    body, reactions = answer(sb.comment(REPO, 1, "Ship it!\n/merge", as_user="tri"))
    run.record(f"/merge by a triage user refused, reactions {' '.join(reactions)}",
               "confused" in reactions and "needs **write**" in body, result_line(body))
    body, reactions = answer(sb.comment(REPO, 1, "> /merge\n\nDone, thanks.\n/unhold", as_user="dev"))
    with sb.world.lock:
        released = "do-not-merge" not in repo.issues[1].labels
    run.record("/unhold removes the label; the quoted `> /merge` is not a command",
               released and body.count("\n- ") == 1, result_line(body))


WIDGETS_API = """\
openapi: 3.1.0
info: {title: Widgets, version: 1.0.0}
paths:
  /widgets/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: The widget.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Widget"}
components:
  schemas:
    Widget:
      type: object
      required: [id, name, colour]
      properties:
        id: {type: integer}
        name: {type: string}
        colour: {type: string}
"""
CONTRACTS_CONFIG = """\
contracts:
  sources:
    - path: api/openapi.yaml
      targets:
        - {language: python, output: widgets/api.py}
"""


def chapter_contracts(run: DemoRun) -> None:
    from trunkline.config import parse_config
    from trunkline.contracts.generate import generate

    sb, h = run.sandbox, run.harness
    config = GOOD_CONFIG + CONTRACTS_CONFIG

    def models(contract: str) -> str:  # `trunkline contracts generate`, for real
        root = h.root / f"contracts-{len(contract)}"
        (root / "api").mkdir(parents=True, exist_ok=True)
        (root / "api/openapi.yaml").write_text(contract)
        generate(root, parse_config(config).config)
        return (root / "widgets/api.py").read_text()

    run.step("acme adds an OpenAPI contract, its generated pydantic models and a `contracts:` section")
    sb.push(REPO, "main", {".github/trunkline.yml": config, "api/openapi.yaml": WIDGETS_API,
                           "widgets/api.py": models(WIDGETS_API)}, "Add the widgets API contract", as_user="acme")
    run.step("dev opens a pull request that drops `colour` from the Widget response (models regenerated)")
    breaking = WIDGETS_API.replace("[id, name, colour]", "[id, name]").replace("        colour: {type: string}\n", "")
    sha = sb.push(REPO, "drop-colour", {"api/openapi.yaml": breaking, "widgets/api.py": models(breaking)},
                  "Drop colour", as_user="dev")
    number = sb.open_pr(REPO, head="drop-colour", title="Drop colour from widgets", as_user="dev")
    check = h.wait_for_check(REPO, sha, "trunkline/contracts", timeout=30)
    note = next((a for a in check.annotations if "response-required-property-removed" in a.get("title", "")), {})
    where = f"{note.get('path')}:{note.get('start_line')}" if note else "no annotation"
    run.record(f"PR #{number}: trunkline/contracts → {check.conclusion}, {note.get('title', '')} at {where}",
               check.conclusion == "failure" and bool(note), note.get("message", ""))


def chapter_automerge(run: DemoRun) -> None:
    sb, h = run.sandbox, run.harness
    repo = sb.repo(REPO)

    def pull(number: int):  # noqa: ANN202 - sandbox Pull
        with sb.world.lock:
            return repo.pulls[number]

    def merge_title(sha: str, fragment: str) -> str:
        def found() -> str | None:
            runs = sorted(h.check_runs(REPO, sha, "trunkline/merge"), key=lambda r: r.id)
            title = runs[-1].output.get("title", "") if runs else ""
            return title if fragment in title else None
        return h.wait_for(found, 30, what=f"trunkline/merge '{fragment}' on {sha[:7]}")

    run.step("acme protects main (check `ci` required, branches up to date); dev comments `/merge` on PR #1, "
             "which is behind main")
    sb.protect(REPO, required_checks=["ci"], strict=True)
    old_head = pull(1).head_sha
    sb.comment(REPO, 1, "/merge", as_user="dev")
    new_head = h.wait_for(lambda: pull(1).head_sha if pull(1).head_sha != old_head else None, 30,
                          what="PR #1 updated with main")
    title = merge_title(new_head, "Waiting")
    run.record(f"PR #1: branch updated with main ({old_head[:7]} → {new_head[:7]}); trunkline/merge: {title}",
               True, "the old head is never merged: its gates did not run against the new base")
    sb.ci(REPO, new_head, "ci", "success")
    h.wait_for(lambda: pull(1).merged, 30, what="PR #1 merged")
    run.record(f"CI green on {new_head[:7]} → merged as {pull(1).merge_commit_sha[:7]}; "
               f"trunkline/merge: {merge_title(new_head, 'Merged')}", True)

    run.step("dev labels a PR `auto-merge`; CI goes green, and a push lands while the merge request is in flight")
    sha = sb.push(REPO, "feature/mul", {"widgets/mul.py": "def mul(a, b):\n    return a * b\n"}, "Add mul()",
                  as_user="dev")
    number = sb.open_pr(REPO, head="feature/mul", title="Add mul()", as_user="dev")
    sb.label(REPO, number, "auto-merge", as_user="dev")
    merge_title(sha, "Waiting: check `ci`")
    fault = sb.inject("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", None, times=1, latency=1.0)
    sb.ci(REPO, sha, "ci", "success")
    h.wait_for(lambda: fault.times == 0, 30, what="merge request in flight")
    untested = sb.push(REPO, "feature/mul", {"widgets/mul.py": "def mul(a, b):\n    return a * b  # untested\n"},
                       "Tweak mul()", as_user="dev")
    title = merge_title(untested, "Waiting: check `ci`")
    refused = [e.status for e in sb.request_log if e.method == "PUT" and e.path.endswith(f"/pulls/{number}/merge")]
    run.record(f"PR #{number}: merge with sha={sha[:7]} answered {refused[:1]} (head moved); {untested[:7]} not "
               f"merged — trunkline/merge: {title}", refused[:1] == [409] and not pull(number).merged)
    sb.ci(REPO, untested, "ci", "success")
    h.wait_for(lambda: pull(number).merged, 30, what=f"PR #{number} merged")
    h.wait_for(lambda: "feature/mul" not in _branches(run), 30, what="head branch deleted")
    run.record(f"CI green on {untested[:7]} → PR #{number} merged, its head branch deleted", True)


def _branches(run: DemoRun) -> set[str]:
    from trunkline.sandbox import git

    return set(git.branches(run.sandbox.repo(REPO)))


def _head_of_pr(run: DemoRun, number: int) -> str:
    repo = run.sandbox.repo(REPO)
    return repo.pulls[number].head_sha


from trunkline.agents.demo import chapter_agents  # noqa: E402
from trunkline.deploy.demo import chapter_deploy  # noqa: E402
from trunkline.gates.demo import chapter_gates  # noqa: E402
from trunkline.ratchets.demo import chapter_ratchets  # noqa: E402
from trunkline.reports.demo import chapter_nightly_report  # noqa: E402
from trunkline.stream.demo import chapter_event_stream  # noqa: E402

CHAPTERS: list[Callable[[DemoRun], None]] = [chapter_setup, chapter_config_check, chapter_reliability,
                                            chapter_commands, chapter_contracts, chapter_automerge,
                                            chapter_ratchets, chapter_gates, chapter_agents,
                                            chapter_event_stream, chapter_deploy, chapter_nightly_report]


def run_demo(root: Path | None = None, console: Console | None = None) -> int:
    console = console or Console()
    console.print(Panel.fit("[bold]Trunkline demo[/] — the loop against a local sandbox GitHub "
                            "(real git, signed webhooks, a real bot process)"))
    with tempfile.TemporaryDirectory(prefix="trunkline-demo-") as tmp:
        base = Path(root) if root else Path(tmp)
        started = time.monotonic()
        with BotHarness(base) as harness:
            run = DemoRun(harness, console)
            try:
                for chapter in CHAPTERS:
                    chapter(run)
            except Exception as exc:  # show what the bot said, then fail
                run.record(f"demo step failed: {exc}", False)
                console.print(Panel(harness.bot_log()[-3000:], title="bot log (tail)"))
        table = Table(title=f"Demo results ({time.monotonic() - started:.1f} s)")
        table.add_column("step")
        table.add_column("ok")
        for what, ok, _ in run.results:
            table.add_row(what, "[green]yes[/]" if ok else "[red]NO[/]")
        console.print(table)
    failed = [r for r in run.results if not r[1]]
    console.print("[bold green]All demo steps passed.[/]" if not failed else f"[bold red]{len(failed)} step(s) failed.[/]")
    return 1 if failed else 0
