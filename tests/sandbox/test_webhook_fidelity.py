"""Acceptance: every webhook the PR lifecycle delivered is GitHub's (octokit schema), signed right,
and together they cover the events Trunkline's bot consumes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from trunkline.corpus import webhook_schemas_dir

pytestmark = pytest.mark.skipif(not webhook_schemas_dir().exists(),
                                reason=f"octokit webhook schemas missing at {webhook_schemas_dir()}")

REPO_ROOT = Path(__file__).resolve().parents[2]

REQUIRED = {
    ("installation", "created"),
    ("push", None),
    ("pull_request", "opened"),
    ("pull_request", "synchronize"),
    ("pull_request", "closed"),
    ("pull_request", "labeled"),
    ("pull_request", "unlabeled"),
    ("pull_request", "reopened"),
    ("pull_request", "ready_for_review"),
    ("issues", "opened"),
    ("issues", "labeled"),
    ("issues", "unlabeled"),
    ("issue_comment", "created"),
    ("issue_comment", "edited"),
    ("pull_request_review", "submitted"),
    ("check_run", "created"),
    ("check_run", "completed"),
    ("check_suite", "requested"),
    ("check_suite", "completed"),
    ("status", None),
    ("deployment", "created"),
    ("deployment_status", "created"),
    ("workflow_run", "requested"),
    ("workflow_run", "completed"),
}


def test_every_delivered_webhook_validates_and_is_signed(pr_lifecycle: Any) -> None:
    from trunkline.sandbox import fidelity

    received = pr_lifecycle.receiver.received
    assert len(received) > 40
    errors: dict[str, list[str]] = {}
    for r in received:
        errs = fidelity.validate_webhook(r.event, r.payload)
        if errs:
            errors.setdefault(f"{r.event}.{r.action}", []).extend(errs[:5])
        assert r.signature_ok(pr_lifecycle.secret), f"bad signature on {r.event}.{r.action} {r.guid}"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-github-hook-installation-target-type"] == "integration"
    assert errors == {}, json.dumps(errors, indent=2)[:5000]

    seen = {(r.event, r.action) for r in received}
    assert REQUIRED - seen == set(), f"missing webhooks: {sorted(REQUIRED - seen, key=str)}"

    counts = Counter(f"{e}.{a}" if a else e for e, a in ((r.event, r.action) for r in received))
    out = REPO_ROOT / ".bench" / "fidelity.json"
    out.parent.mkdir(exist_ok=True)
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing["webhooks"] = {"delivered": len(received), "validated": len(received), "errors": 0,
                            "distinct_event_actions": len(seen), "required_covered": len(REQUIRED),
                            "by_event": dict(sorted(counts.items()))}
    out.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")


def test_every_delivery_reached_the_receiver_once_per_guid(pr_lifecycle: Any) -> None:
    sb, received = pr_lifecycle.sandbox, pr_lifecycle.receiver.received
    logged = [d for d in sb.deliveries() if d.status == "OK"]
    assert sorted(d.guid for d in logged) == sorted(r.guid for r in received)
    # The one redelivery (same GUID, same bytes) is the only GUID seen twice.
    twice = [g for g, n in Counter(r.guid for r in received).items() if n > 1]
    assert twice == [pr_lifecycle.lifecycle.notes["redelivered_guid"]]
    bodies = {r.body for r in received if r.guid == twice[0]}
    assert len(bodies) == 1


def test_webhooks_name_the_installation_and_repository(pr_lifecycle: Any) -> None:
    inst = pr_lifecycle.lifecycle.installation_id
    for r in pr_lifecycle.receiver.received:
        payload = r.payload
        assert payload["installation"]["id"] == inst, (r.event, r.action)
        if r.event != "installation":
            assert payload["repository"]["full_name"] == "acme/widgets", (r.event, r.action)
            assert payload["sender"]["login"]


def test_pull_request_webhooks_tell_the_story_in_order(pr_lifecycle: Any) -> None:
    number = pr_lifecycle.lifecycle.pull_number
    story = [r.action for r in pr_lifecycle.receiver.received
             if r.event == "pull_request" and r.payload["number"] == number]
    firsts = [story.index(a) for a in ("opened", "closed", "reopened", "ready_for_review")]
    assert firsts == sorted(firsts), story
    closed = [r.payload for r in pr_lifecycle.receiver.of("pull_request", "closed")]
    assert closed[-1]["pull_request"]["merged"] is True
    assert closed[-1]["pull_request"]["merge_commit_sha"] == pr_lifecycle.lifecycle.merge_sha
    assert closed[0]["pull_request"]["merged"] is False  # the first close was a plain close
