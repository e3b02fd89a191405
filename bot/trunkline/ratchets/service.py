"""The ratchets as the bot runs them: the API other parts of Trunkline call.

Public API (``client`` is an ``InstallationClient`` — ``.github`` a PyGithub ``Github``, ``.repo(owner,
name)``, ``.app.app_id`` — ``store`` a ``trunkline.store.Store`` or None for the process's store)::

    ratchet_table(client, owner, repo, number, *, store=None) -> str
        # the Markdown table metric | base | head | floor | verdict for pull request #number (measures the
        # head — and base — unless they were measured already, e.g. by the check run)
    ratchet_report(inv) -> Outcome
        # the `/ratchet` command engine (trunkline.commands.builtin.ratchet): summary + the table
    check_pull(client, owner, repo, number, head_sha, base_ref, *, store=None) -> CheckRunSpec | None
        # measure and publish `trunkline/ratchets` on the head (None: ratchets not configured)
    raise_floors(client, owner, repo, branch, after_sha, before_sha=None, *, store=None) -> UpdateResult
        # measure the default branch at after_sha and raise the floors in the baseline file there
        # (a commit, or a pull request when the branch is protected); comments in the YAML kept
    after_merge(client, owner, repo, merge_sha, *, store=None) -> UpdateResult
        # raise_floors for a merge commit (its first parent is the previous tip); the push handler does
        # this on its own, this is for callers that know a merge happened but have no push event

Where the numbers come from: the bot runs the repository's ``ratchets.commands`` (from the default
branch's ``.github/trunkline.yml``) in a temporary git repository holding the base and the head as two
commits (:mod:`.workspace`), and reads the metric files the commands wrote (:mod:`.metrics`). The limits
always come from the default branch's baseline file: a pull request cannot lower its own floor. Each
commit is measured once per recipe and remembered in the store (``ratchet_measurements``), so the base
column of the next pull requests is free after the default branch was measured post-merge.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trunkline.checks.publish import CheckRunSpec, publish_check_run
from trunkline.config.model import TrunklineConfig
from trunkline.github.contents import file_text

from . import report
from .baseline import Baseline, BaselineError, parse_baseline
from .github_io import WriteResult, branch_protected, commit_file, open_update_pr
from .metrics import Reading
from .update import apply_changes, measure_dir, plan_update
from .workspace import BASE_BRANCH, WorkspaceError, command_env, materialise, run_commands

log = logging.getLogger(__name__)

ZERO_SHA = "0" * 40


# --- plumbing -----------------------------------------------------------------------------------------

def default_store() -> Any:
    from trunkline.merge.service import default_store as shared

    return shared()


def _measurements(store: Any) -> Any:
    from trunkline.store.ratchets import MeasurementRepo

    return MeasurementRepo(store if store is not None else default_store())


def recipe_digest(commands: list[str], baseline: Baseline) -> str:
    """What a measurement depends on besides the commit: the commands and where each metric is read."""
    recipe = {"commands": list(commands),
              "metrics": [[m.name, m.kind, m.file, m.pointer, m.benchmark] for m in baseline.metrics]}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def _dump(readings: Mapping[str, Reading]) -> dict[str, Any]:
    return {name: {"value": r.value, "status": r.status, "detail": r.detail} for name, r in readings.items()}


def _load(data: Mapping[str, Any]) -> dict[str, Reading]:
    return {name: Reading(d.get("value"), d.get("status", "ok"), d.get("detail", "")) for name, d in data.items()}


def load_config(client: Any, owner: str, repo: str) -> TrunklineConfig | None:
    from trunkline.config.resolve import resolve_config
    from trunkline.github.contents import default_branch_fetch

    resolved = resolve_config(owner, repo, default_branch_fetch(client.github))
    return resolved.config if resolved.ok else None


@dataclass
class Measurement:
    readings: dict[str, Reading]
    notes: list[str] = field(default_factory=list)
    cached: bool = False


def measure(repository: Any, baseline: Baseline, section: Any, *, sha: str, base_sha: str, store: Any,
            full_name: str) -> Measurement:
    """The metrics of ``sha`` (patch metrics against ``base_sha``): remembered, or run now."""
    digest = recipe_digest(list(section.commands), baseline)
    repo_store = _measurements(store)
    hit = repo_store.get(full_name, sha, digest)
    if hit is not None and hit[2] == base_sha:
        return Measurement(_load(hit[0]), list(hit[1]), cached=True)
    with tempfile.TemporaryDirectory(prefix="trunkline-ratchets-") as tmp:
        root = Path(tmp) / "checkout"
        try:
            materialise(repository, root, base_sha=base_sha, head_sha=sha)
        except WorkspaceError as exc:
            return Measurement({}, [f"could not build the checkout: {exc}"])
        env = command_env({"TRUNKLINE_BASE_REF": BASE_BRANCH, "TRUNKLINE_BASE_SHA": base_sha,
                           "TRUNKLINE_HEAD_SHA": sha})
        result = run_commands(list(section.commands), root, env, section.timeout_minutes * 60.0)
        readings = measure_dir(baseline, root)
        notes = list(result.notes)
        if not result.ok and result.runs and result.runs[-1].tail:
            notes.append("output (tail): " + result.runs[-1].tail[-800:].replace("\n", " ⏎ "))
    repo_store.put(full_name, sha, digest, _dump(readings), notes, time.time(), base_sha=base_sha)
    return Measurement(readings, notes)


def _today() -> Any:
    return datetime.now(UTC).date()


def _baseline_at(client: Any, owner: str, repo: str, path: str, ref: str | None) -> tuple[str | None, Baseline | None,
                                                                                           BaselineError | None]:
    text = file_text(client.github, owner, repo, path, ref)
    if text is None:
        return None, None, None
    try:
        return text, parse_baseline(text, path), None
    except BaselineError as exc:
        return text, None, exc


def _problem_spec(head_sha: str, title: str, summary: str, annotations: list[dict[str, Any]] | None = None
                  ) -> CheckRunSpec:
    return CheckRunSpec(report.CHECK_NAME, head_sha, "failure", title, summary, annotations=annotations or [])


def _annotations(path: str, error: BaselineError) -> list[dict[str, Any]]:
    out = []
    for problem in error.problems:
        location, _, message = problem.partition(": ")
        parts = location.rsplit(":", 2)
        line = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 1
        out.append({"path": path, "start_line": line, "end_line": line, "annotation_level": "failure",
                    "title": "ratchets baseline", "message": message or problem})
    return out


# --- the pull request check ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PullEvaluation:
    spec: CheckRunSpec
    rows: list[report.Row]


def evaluate_pull(client: Any, owner: str, repo: str, head_sha: str, base_sha: str, *, config: TrunklineConfig,
                  store: Any = None, baseline_changed: bool = False) -> PullEvaluation:
    """Measure head (and base) and build the check run (no publishing)."""
    section = config.ratchets
    repository = client.repo(owner, repo)
    path = section.baseline
    _, baseline, error = _baseline_at(client, owner, repo, path, None)
    if error is not None:
        return PullEvaluation(_problem_spec(head_sha, "Ratchets: the baseline file has errors",
                                            f"`{path}` on the default branch cannot be used:\n\n"
                                            + "\n".join(f"- {p}" for p in error.problems),
                                            _annotations(path, error)), [])
    if baseline is None:
        return PullEvaluation(_problem_spec(
            head_sha, f"Ratchets: {path} is missing",
            f"`ratchets.commands` is configured but the default branch has no `{path}`, so there are no floors "
            "to hold. Create it (see docs/ratchets.md) or remove `ratchets.commands`."), [])
    comparison = compare(repository, base_sha, head_sha)
    merge_base = comparison.merge_base
    full = f"{owner}/{repo}"
    notes: list[str] = []
    base = None
    if only_baseline_changed(comparison, path):
        # Same code as the base: its measurement is the head's (a floor edit, or Trunkline's own update PR).
        measured = measure(repository, baseline, section, sha=merge_base, base_sha=merge_base, store=store,
                           full_name=full)
        head = Measurement(measured.readings, measured.notes)
        base = measured.readings if section.measure_base else None
        notes.append(f"Only `{path}` changed: the head's code is the base's, measured once.")
        notes += [f"head: {n}" for n in head.notes]
    else:
        head = measure(repository, baseline, section, sha=head_sha, base_sha=merge_base, store=store, full_name=full)
        notes += [f"head: {n}" for n in head.notes]
        if section.measure_base:
            measured = measure(repository, baseline, section, sha=merge_base, base_sha=merge_base, store=store,
                               full_name=full)
            base = measured.readings
            notes += [f"base: {n}" for n in measured.notes]
    if baseline_changed:
        notes.append(f"This pull request changes `{path}`; limits are read from the default branch, so the "
                     "change applies once it is merged.")
    rows = report.build_rows(baseline, head.readings, base, _today())
    spec = report.check_spec(rows, head_sha, base_sha=merge_base, baseline_path=path, notes=notes)
    return PullEvaluation(spec, rows)


@dataclass(frozen=True)
class Comparison:
    merge_base: str
    files: frozenset[str] | None  # changed paths base...head; None when GitHub did not list them all


MAX_COMPARE_FILES = 300  # GitHub lists at most 300 files in a comparison


def compare(repository: Any, base_sha: str, head_sha: str) -> Comparison:
    """Where the pull request's changes start (the base branch may have moved on since it was opened) and
    which files they touch."""
    try:
        comparison = repository.compare(base_sha, head_sha)
        found = comparison.merge_base_commit.sha
        files = [f.filename for f in comparison.files]
    except Exception:  # noqa: BLE001 - fall back to the base sha the event named, files unknown
        log.warning("compare %s...%s failed; measuring against the base sha", base_sha[:7], head_sha[:7])
        return Comparison(base_sha, None)
    return Comparison(str(found) if found else base_sha,
                      frozenset(files) if len(files) < MAX_COMPARE_FILES else None)


def only_baseline_changed(comparison: Comparison, baseline_path: str) -> bool:
    return comparison.files is not None and comparison.files == frozenset({baseline_path})


def _changes_baseline(client: Any, owner: str, repo: str, path: str, head_sha: str) -> bool:
    at_head = file_text(client.github, owner, repo, path, head_sha)
    return at_head != file_text(client.github, owner, repo, path, None)


def check_pull(client: Any, owner: str, repo: str, number: int, head_sha: str, base_sha: str, *,
               store: Any = None, config: TrunklineConfig | None = None,
               logger: logging.Logger | logging.LoggerAdapter | None = None) -> CheckRunSpec | None:
    """Measure pull request ``number`` at ``head_sha`` and publish ``trunkline/ratchets`` (None: not set up)."""
    logger = logger or log
    config = config if config is not None else load_config(client, owner, repo)
    if config is None or not config.ratchets.configured:
        return None
    repository = client.repo(owner, repo)
    app_id = client.app.app_id
    publish_check_run(repository, CheckRunSpec(report.CHECK_NAME, head_sha, None, "Measuring the ratchets…",
                                               "Running `ratchets.commands` on the head (and the base)."),
                      app_id=app_id)
    changed = _changes_baseline(client, owner, repo, config.ratchets.baseline, head_sha)
    evaluation = evaluate_pull(client, owner, repo, head_sha, base_sha, config=config, store=store,
                               baseline_changed=changed)
    publish_check_run(repository, evaluation.spec, app_id=app_id)
    logger.info("%s on #%d %s: %s (%s)", report.CHECK_NAME, number, head_sha[:7], evaluation.spec.conclusion,
                evaluation.spec.title)
    return evaluation.spec


def ratchet_table(client: Any, owner: str, repo: str, number: int, *, store: Any = None) -> str:
    """The Markdown ratchet table for pull request ``number`` (see :mod:`.report`)."""
    config = load_config(client, owner, repo)
    if config is None:
        return "The default branch's `.github/trunkline.yml` has errors (see `trunkline/config`).\n"
    if not config.ratchets.configured:
        return "No ratchets are measured here: `ratchets.commands` is not set in `.github/trunkline.yml`.\n"
    pull = client.repo(owner, repo).get_pull(number)
    evaluation = evaluate_pull(client, owner, repo, pull.head.sha, pull.base.sha, config=config, store=store)
    if not evaluation.rows:
        return f"**{evaluation.spec.title}**\n\n{evaluation.spec.summary}"
    return report.table(evaluation.rows)


def ratchet_report(inv: Any) -> Any:
    """``/ratchet``: the table for the pull request the comment is on."""
    from trunkline.commands.invocation import failed, ok

    session = inv.session
    config = session.config if session.config_ok else None
    if config is None or not config.ratchets.configured:
        table = ratchet_table(session.github, session.owner, session.repo, session.number)
        return ok("No ratchets measured here.", table)
    pull = session.pull()
    evaluation = evaluate_pull(session.github, session.owner, session.repo, pull.head.sha, pull.base.sha,
                               config=config)
    if not evaluation.rows:
        return failed(evaluation.spec.title, evaluation.spec.summary)
    return ok(f"{evaluation.spec.title} (head `{pull.head.sha[:7]}`).", report.table(evaluation.rows))


# --- after a merge: raise the floors ------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateResult:
    outcome: str  # not-configured | off | no-baseline | invalid-baseline | baseline-only | unchanged | committed |
    #               pull_request | exists | moved
    changes: tuple[str, ...] = ()
    write: WriteResult | None = None
    message: str = ""


def raise_floors(client: Any, owner: str, repo: str, branch: str, after_sha: str, before_sha: str | None = None, *,
                 store: Any = None, config: TrunklineConfig | None = None,
                 logger: logging.Logger | logging.LoggerAdapter | None = None) -> UpdateResult:
    """Measure ``after_sha`` on the default branch and raise the floors it beats, in the baseline file."""
    logger = logger or log
    config = config if config is not None else load_config(client, owner, repo)
    if config is None or not config.ratchets.configured:
        return UpdateResult("not-configured")
    section = config.ratchets
    if section.update == "off":
        return UpdateResult("off")
    text, baseline, error = _baseline_at(client, owner, repo, section.baseline, after_sha)
    if error is not None:
        logger.warning("ratchets: %s at %s has errors; floors not raised", section.baseline, after_sha[:7])
        return UpdateResult("invalid-baseline", message=str(error))
    if baseline is None or text is None:
        return UpdateResult("no-baseline")
    repository = client.repo(owner, repo)
    base = before_sha if before_sha and before_sha != ZERO_SHA else after_sha
    if base != after_sha and only_baseline_changed(compare(repository, base, after_sha), section.baseline):
        # Trunkline's own floor commit, or a reviewed edit of the floors: no code changed, nothing new was
        # achieved — and a deliberate edit (even a lowered floor) must not be undone by the bot.
        logger.info("ratchets: only %s changed at %s; nothing to measure", section.baseline, after_sha[:7])
        return UpdateResult("baseline-only")
    measured = measure(repository, baseline, section, sha=after_sha, base_sha=base, store=store,
                       full_name=f"{owner}/{repo}")
    today = _today()
    changes = plan_update(baseline, measured.readings, today)
    if not changes:
        logger.info("ratchets: no floor moves at %s", after_sha[:7])
        return UpdateResult("unchanged")
    described = tuple(c.describe((baseline.get(c.name) or baseline.metrics[0]).rule.precision) for c in changes)
    new_text = apply_changes(text, changes, today)
    message = f"ratchets: raise floors after {after_sha[:7]}\n\n" + "\n".join(described) + "\n"
    mode = section.update
    if mode == "auto":
        mode = "pull_request" if branch_protected(repository, branch) else "commit"
    if mode == "commit":
        written = commit_file(repository, branch, after_sha, section.baseline, new_text, message)
    else:
        body = ("The metrics measured on `" + after_sha[:12] + "` beat these limits, so Trunkline raises them "
                "(limits never move backwards):\n\n" + "\n".join(f"- {d}" for d in described) + "\n")
        written = open_update_pr(repository, branch, after_sha, section.baseline, new_text, message, body,
                                 config.merge.label)
        if written.number is not None and written.sha is not None:
            _vouch_for_update_pr(client, owner, repo, written, baseline, measured.readings, new_text, section,
                                 store, logger)
    logger.info("ratchets: %s (%s): %s", written.outcome, written.message, "; ".join(described))
    return UpdateResult(written.outcome, described, written, written.message)


def _vouch_for_update_pr(client: Any, owner: str, repo: str, written: WriteResult, baseline: Baseline,
                         readings: Mapping[str, Reading], new_text: str, section: Any, store: Any,
                         logger: Any) -> None:
    """The update PR's head differs from the measured commit only in the baseline file, so the same
    measurement holds for it: publish its ``trunkline/ratchets`` check (its own ``opened`` event is ours
    and dropped) and let auto-merge evaluate it."""
    try:
        raised = parse_baseline(new_text, section.baseline)
        rows = report.build_rows(raised, readings, None, _today())
        spec = report.check_spec(rows, str(written.sha), baseline_path=section.baseline,
                                 notes=["Measured on the commit this pull request updates; only the baseline "
                                        "file differs."])
        publish_check_run(client.repo(owner, repo), spec, app_id=client.app.app_id)
        from trunkline.merge.service import evaluate_pr

        evaluate_pr(client, store, owner, repo, int(written.number or 0), reason="ratchets update pull request")
    except Exception:  # noqa: BLE001 - the PR exists; a person or the next event can still merge it
        logger.exception("ratchets: could not publish the check / evaluate #%s", written.number)


def after_merge(client: Any, owner: str, repo: str, merge_sha: str, *, store: Any = None) -> UpdateResult:
    """Raise the floors after a merge into the default branch (``merge_sha``'s first parent is the previous
    tip) — what the push handler does, for callers without a push event."""
    repository = client.repo(owner, repo)
    commit = repository.get_commit(merge_sha)
    parents = [p.sha for p in commit.parents]
    return raise_floors(client, owner, repo, repository.default_branch, merge_sha, parents[0] if parents else None,
                        store=store)
