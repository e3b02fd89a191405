"""``trunkline/config``: is this repository's Trunkline configuration valid?

Gates always use the configuration on the **default branch** (a pull request must not edit its
own gates). The check reports that configuration, and — when the pull request changes
``.github/trunkline.yml`` — also validates the proposed file, so a broken configuration is
caught before it is merged, with annotations on the offending lines.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from trunkline.checks.publish import CheckRunSpec, publish_check_run
from trunkline.config.loader import CONFIG_PATH, ConfigResult, parse_config
from trunkline.config.report import CHECK_NAME, CheckOutput, config_check_output
from trunkline.config.resolve import ResolvedConfig
from trunkline.events.context import Context
from trunkline.events.payloads import PullRequestEvent
from trunkline.events.registry import registry
from trunkline.github.contents import file_text
from trunkline.merge.cache import default_sha_hint, note_head_changes_config, resolved_config
from trunkline.merge.service import after_own_check


def config_check_spec(head_sha: str, resolved: ResolvedConfig, proposed: ConfigResult | None) -> CheckRunSpec:
    """The check run for a PR head: pure over the resolved default-branch config and, when the PR
    changes the config file, the parsed proposed file."""
    current = config_check_output(resolved)
    if proposed is None:
        return _spec(head_sha, current)
    changed = config_check_output(proposed)
    if changed.conclusion == "success" and current.conclusion == "success":
        summary = (f"This pull request changes `{proposed.file}`; the new version is valid and takes "
                   f"effect once merged.\n\n{changed.summary}")
        return _spec(head_sha, replace(current, title="Configuration valid (changed by this pull request)",
                                       summary=summary))
    if changed.conclusion == "failure":
        summary = (f"This pull request changes `{proposed.file}` and the new version has problems. "
                   f"Gates keep using the default branch's configuration until a valid one is merged.\n\n"
                   f"{changed.summary}")
        if current.conclusion == "failure":
            summary += f"\n\n### Default branch\n\n{current.summary}"
        return _spec(head_sha, replace(changed, title=f"{changed.title} (changed by this pull request)",
                                       summary=summary))
    # The PR's version is valid but the default branch's is not: merging this PR fixes it.
    summary = (f"The default branch's configuration has problems; this pull request's version of "
               f"`{proposed.file}` is valid and fixes them once merged.\n\n{current.summary}")
    return _spec(head_sha, replace(current, summary=summary))


def _spec(head_sha: str, output: CheckOutput) -> CheckRunSpec:
    return CheckRunSpec(name=CHECK_NAME, head_sha=head_sha, conclusion=output.conclusion, title=output.title,
                        summary=output.summary, annotations=[a.to_api() for a in output.annotations])


def publish_config_check(client: Any, owner: str, name: str, head_sha: str, head_full_name: str | None,
                         *, resolved: ResolvedConfig | None = None, base_text: str | None = None) -> CheckRunSpec:
    """Publish ``trunkline/config`` on ``head_sha`` of a pull request into ``owner/name`` whose head lives
    in ``head_full_name`` (None when the fork is gone). Also used by auto-merge for heads whose
    ``synchronize`` event our own loop guard dropped (after Trunkline updated the branch)."""
    if resolved is None:
        # Cached per repository (trunkline.merge.cache): with it, the default branch's own file text.
        resolved, base_text = resolved_config(client, owner, name)
    proposed = None
    if head_full_name:
        head_owner, _, head_name = head_full_name.partition("/")
        head_text = file_text(client.github, head_owner, head_name, CONFIG_PATH, ref=head_sha)
        note_head_changes_config(owner, name, head_sha, head_text != base_text)
        if head_text is not None and head_text != base_text:
            proposed = parse_config(head_text, CONFIG_PATH)
    spec = config_check_spec(head_sha, resolved, proposed)
    publish_check_run(client.repo(owner, name), spec, app_id=client.app.app_id)
    return spec


@registry.on("pull_request", "opened", "synchronize", "reopened")
def check_config(ctx: Context) -> None:
    payload = ctx.payload
    assert isinstance(payload, PullRequestEvent)
    pr = payload.pull_request
    owner, name = ctx.repo_owner or "", ctx.repo_name or ""
    resolved, base_text = resolved_config(ctx.github, owner, name, default_sha_hint(payload))
    ctx._config = resolved  # handlers after this one reuse it through ctx.config()
    head_repo = pr.head.repo.full_name if pr.head.repo is not None else None
    spec = publish_config_check(ctx.github, owner, name, pr.head.sha, head_repo, resolved=resolved,
                                base_text=base_text)
    ctx.log.info("%s: %s", CHECK_NAME, spec.conclusion)
    after_own_check(ctx, pr.head.sha)  # GitHub's events for our own check run are dropped
