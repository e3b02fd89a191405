"""``trunkline/contracts``: are the generated files current, and does the PR break a contract?

On a pull request (opened, synchronize, reopened), for every source in the default branch's
``contracts:`` section:

- **drift**: each generated file at the head is checked against the contract at the head by its
  hash header (:func:`trunkline.contracts.generate.drift`), from file contents fetched through the
  GitHub API: no checkout, no generator;
- **breaking changes**: the contract at the PR's base SHA is diffed against the head SHA's (relative
  ``$ref`` files fetched from the same commits) with the diff engine, under the configured policy.

Findings become annotations on the contract's lines, with a markdown table in the summary. A
repository without ``contracts.sources`` gets no check run at all (like a CI job that is not set
up), and a broken configuration is left to ``trunkline/config``.

:func:`contracts_check_spec` is the pure core; :func:`check_contracts` is the handler.
"""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trunkline.checks.publish import CheckRunSpec, publish_check_run
from trunkline.contracts.config import BreakingSection, ContractsSection, SourceConfig
from trunkline.contracts.generate import OK, Reader, TargetState, digest_source, drift
from trunkline.events.context import Context
from trunkline.events.payloads import PullRequestEvent
from trunkline.events.registry import registry

CHECK_NAME = "trunkline/contracts"
MAX_ANNOTATIONS = 500
MAX_SUMMARY_CHARS = 60_000  # GitHub rejects output.summary over 65535 characters

COMPARED, UNCHANGED, NEW, MISSING, ERROR = "compared", "unchanged", "new", "missing", "error"


@dataclass(frozen=True)
class SourceResult:
    """Breaking-change outcome for one contract (plain data)."""

    path: str
    status: str  # compared | unchanged | new | missing | error
    findings: Sequence[Any] = ()  # trunkline.contracts.diff.Finding, after the policy
    ignored: Sequence[tuple[str, str]] = ()  # (rule id, reason) of findings the policy dropped
    error: str | None = None


@dataclass(frozen=True)
class CheckInput:
    head_sha: str
    base_sha: str
    states: Sequence[TargetState]
    results: Sequence[SourceResult]
    fail_on: str = "ERR"
    notes: Sequence[str] = field(default=())


# --- pure core -------------------------------------------------------------------------------

def _breaking(findings: Sequence[Any], fail_on: str) -> bool:
    if fail_on == "never":
        return False
    threshold = {"ERR": 2, "WARN": 1}[fail_on]
    return any(_rank(f) >= threshold for f in findings)


def _rank(finding: Any) -> int:
    return {"INFO": 0, "WARN": 1, "ERR": 2}[str(getattr(finding.level, "value", finding.level))]


def _level(finding: Any) -> str:
    return str(getattr(finding.level, "value", finding.level))


def finding_annotation(finding: Any) -> dict[str, Any]:
    line = finding.source.line or 1
    level = {"ERR": "failure", "WARN": "warning", "INFO": "notice"}[_level(finding)]
    return {"path": finding.source.file, "start_line": line, "end_line": line, "annotation_level": level,
            "title": f"{_level(finding)} {finding.id}", "message": finding.message}


def drift_annotation(state: TargetState) -> dict[str, Any]:
    return {"path": state.output, "start_line": 1, "end_line": 1, "annotation_level": "failure",
            "title": f"generated file {state.state}",
            "message": f"{state.message()}. Run `trunkline contracts generate` and commit the result."}


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


STATE_CELL = {OK: "✅ up to date", "missing": "❌ missing", "unmanaged": "❌ no generator header",
              "edited": "❌ edited by hand", "stale": "❌ stale", "recipe": "❌ stale (options changed)",
              "source-missing": "❌ contract missing", "error": "❌ error"}


def contracts_check_spec(data: CheckInput) -> CheckRunSpec:
    """The check run for one PR head (pure)."""
    drift_problems = [s for s in data.states if s.state != OK]
    failing_sources = [r for r in data.results if r.status in (MISSING, ERROR)]
    all_findings = [f for r in data.results for f in r.findings]
    breaking = _breaking(all_findings, data.fail_on)
    errs = sum(1 for f in all_findings if _level(f) == "ERR")
    warns = sum(1 for f in all_findings if _level(f) == "WARN")

    failed = bool(drift_problems or failing_sources or breaking)
    parts = []
    if breaking:
        parts.append(f"breaking changes ({errs} ERR, {warns} WARN)")
    if drift_problems:
        parts.append(f"{len(drift_problems)} generated file{'s' if len(drift_problems) != 1 else ''} out of date")
    if failing_sources:
        parts.append(f"{len(failing_sources)} contract{'s' if len(failing_sources) != 1 else ''} unreadable")
    if failed:
        title = "Contracts: " + ", ".join(parts)
    elif all_findings:
        title = f"Contracts OK: no change reaches {data.fail_on} ({errs} ERR, {warns} WARN allowed by policy)" \
            if data.fail_on != "never" else f"Contracts OK ({len(all_findings)} change(s) reported, policy: never fail)"
    else:
        title = f"Contracts OK: {len(data.results)} contract(s), no breaking changes, generated code current"

    lines = [f"Policy: fail on **{data.fail_on}** · base `{data.base_sha[:7]}` → head `{data.head_sha[:7]}`", ""]
    if data.states:
        lines += ["### Generated code", "", "| File | From | State |", "| --- | --- | --- |"]
        for s in data.states:
            cell = STATE_CELL.get(s.state, s.state) + (f": {_md(s.detail)}" if s.detail else "")
            lines.append(f"| `{s.output}` | `{s.source}` | {cell} |")
        if drift_problems:
            lines += ["", "Regenerate with `trunkline contracts generate` and commit the result "
                          "(`trunkline contracts generate --check` shows the diff)."]
        lines.append("")
    lines += ["### Breaking changes", ""]
    for r in data.results:
        lines.append(f"#### `{r.path}`")
        lines.append("")
        if r.status == UNCHANGED:
            lines.append("Unchanged by this pull request.")
        elif r.status == NEW:
            lines.append("New contract (not on the base branch): nothing to break yet.")
        elif r.status in (MISSING, ERROR):
            lines.append(f"❌ {_md(r.error or 'cannot be read')}")
        elif not r.findings:
            lines.append("Only changes the policy ignores." if r.ignored else "No changes a consumer would notice.")
        else:
            lines += ["| Level | Rule | Where | Change |", "| --- | --- | --- | --- |"]
            for f in r.findings[:200]:
                where = f"`{f.source.file}:{f.source.line}`" if f.source.line else f"`{f.source.file}`"
                lines.append(f"| {_level(f)} | `{f.id}` | {where} | {_md(f.message)} |")
            if len(r.findings) > 200:
                lines.append(f"\n…and {len(r.findings) - 200} more (see the annotations).")
        if r.ignored:
            lines += ["", f"Ignored by policy ({len(r.ignored)}):"]
            lines += [f"- `{rule}`: {_md(reason)}" for rule, reason in r.ignored[:50]]
        lines.append("")
    lines += [f"> {note}" for note in data.notes]
    summary = "\n".join(lines).rstrip() + "\n"
    if len(summary) > MAX_SUMMARY_CHARS:
        summary = summary[:MAX_SUMMARY_CHARS] + "\n\n…(truncated; see the annotations)\n"

    annotations = [drift_annotation(s) for s in drift_problems]
    annotations += [finding_annotation(f) for f in all_findings]
    return CheckRunSpec(name=CHECK_NAME, head_sha=data.head_sha, conclusion="failure" if failed else "success",
                        title=title[:250], summary=summary, annotations=annotations[:MAX_ANNOTATIONS])


# --- breaking changes through the diff engine ------------------------------------------------

def diff_policy(breaking: BreakingSection, source: str) -> Any:
    from trunkline.contracts.diff import DiffPolicy

    ignore = [{"id": e.id, "reason": e.reason, "path": e.path, "pointer": e.pointer}
              for e in breaking.ignore if e.source in (None, source)]
    return DiffPolicy(fail_on=breaking.fail_on, overrides=dict(breaking.overrides), ignore=ignore)


def document_from(path: str, read: Reader) -> Any | None:
    """A diff-engine Document for ``path`` read through ``read`` (relative ``$ref``s through it too)."""
    from trunkline.contracts.diff import Document
    from trunkline.contracts.sources import parse_text

    content = read(path)
    if content is None:
        return None
    data, locator = parse_text(content.decode("utf-8", "replace"), path)
    base_dir = posixpath.dirname(path)

    def external(name: str) -> Any | None:
        target = posixpath.normpath(posixpath.join(base_dir, name))
        if target.startswith("../"):
            return None
        return document_from(target, read)

    return Document(data, path, locator, external)


def compare_source(source: SourceConfig, breaking: BreakingSection, read_base: Reader,
                   read_head: Reader) -> SourceResult:
    """Diff one contract base -> head under the policy (pure over the two readers)."""
    head_digest = digest_source(source.path, read_head)
    if head_digest.sha256 is None:
        return SourceResult(source.path, MISSING, error=f"{source.path} does not exist at the head commit "
                                                        "(it is configured in contracts.sources)")
    base_digest = digest_source(source.path, read_base)
    if base_digest.sha256 is None:
        return SourceResult(source.path, NEW)
    if (base_digest.sha256, base_digest.refs_sha256) == (head_digest.sha256, head_digest.refs_sha256):
        return SourceResult(source.path, UNCHANGED)
    try:
        from trunkline.contracts.diff import ContractError, apply_policy, diff
    except ImportError as exc:  # the engine is a separate module; say so rather than crash
        return SourceResult(source.path, ERROR, error=f"breaking-change diff unavailable: {exc}")
    try:
        findings = diff(document_from(source.path, read_base), document_from(source.path, read_head),
                        base_name=source.path, head_name=source.path)
        policy = diff_policy(breaking, source.path)
    except (ContractError, ValueError) as exc:
        return SourceResult(source.path, ERROR, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - an engine bug must still end in a check run, not a retry loop
        return SourceResult(source.path, ERROR, error=f"the diff engine failed on this contract "
                                                      f"({type(exc).__name__}: {exc}); please report it")
    ignored = []
    for f in findings:
        entry = next((e for e in policy.ignore if e.matches(f)), None)
        if entry is not None:
            ignored.append((f.id, entry.reason))
    return SourceResult(source.path, COMPARED, findings=apply_policy(findings, policy), ignored=ignored)


def evaluate(contracts: ContractsSection, head_sha: str, base_sha: str, read_head: Reader,
             read_base: Reader) -> CheckInput:
    states = drift(contracts, read_head)
    results = [compare_source(s, contracts.breaking, read_base, read_head) for s in contracts.sources]
    return CheckInput(head_sha, base_sha, states, results, contracts.breaking.fail_on)


# --- GitHub adapter --------------------------------------------------------------------------

def api_reader(repository: Any, ref: str) -> Reader:
    """``read(path)`` -> bytes of the file at ``ref`` through the contents API (blobs API past 1 MB)."""
    from github.GithubException import GithubException, UnknownObjectException

    cache: dict[str, bytes | None] = {}

    def read(path: str) -> bytes | None:
        if path in cache:
            return cache[path]
        try:
            content = repository.get_contents(path, ref=ref)
        except UnknownObjectException:
            content = None
        except GithubException as exc:
            if exc.status != 404:
                raise
            content = None
        data: bytes | None = None
        if content is not None and not isinstance(content, list) and content.type == "file":
            if content.encoding == "base64" and content.content is not None:
                data = content.decoded_content
            else:  # GitHub leaves `content` empty for files over 1 MB
                blob = repository.get_git_blob(content.sha)
                data = base64.b64decode(blob.content) if blob.encoding == "base64" else blob.content.encode()
        cache[path] = data
        return data

    return read


def _repo_for(ctx: Context, full_name: str | None) -> Any:
    owner, _, name = (full_name or "").partition("/")
    return ctx.github.github.get_repo(f"{owner}/{name}", lazy=True)


@registry.on("pull_request", "opened", "synchronize", "reopened")
def check_contracts(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PullRequestEvent)
    resolved = ctx.config()
    if resolved.config is None:
        ctx.log.info("%s: skipped (configuration has errors; trunkline/config reports them)", CHECK_NAME)
        return
    contracts = resolved.config.contracts
    if not contracts.configured:
        return  # no contracts configured: no check run, like a CI job that is not set up
    pr = payload.pull_request
    base_repo = _repo_for(ctx, ctx.repo_full_name)
    head_repo = _repo_for(ctx, pr.head.repo.full_name) if pr.head.repo is not None else base_repo
    data = evaluate(contracts, pr.head.sha, pr.base.sha, api_reader(head_repo, pr.head.sha),
                    api_reader(base_repo, pr.base.sha))
    spec = contracts_check_spec(data)
    publish_check_run(ctx.github.repo(ctx.repo_owner or "", ctx.repo_name or ""), spec,
                      app_id=ctx.github.app.app_id)
    ctx.log.info("%s: %s (%s)", CHECK_NAME, spec.conclusion, spec.title)

