"""Suite-wide settings and the sandbox fidelity audit. Area fixtures live in each folder's conftest."""

from __future__ import annotations

import json
import os
import weakref
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from trunkline.corpus import corpus_dir

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True, print_blob=True)
# `make verify-fast` (tier 0, < 60 s): property tests without their own max_examples try 20 examples;
# every other target uses the default 100.
TIER0_MAX_EXAMPLES = 20
settings.register_profile("tier0", parent=settings.get_profile("default"), max_examples=TIER0_MAX_EXAMPLES)
settings.load_profile("ci" if os.environ.get("CI") else "default")

_REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_fidelity_audit: the test makes the sandbox answer wrongly on "
                                       "purpose; skip the automatic sandbox fidelity audit")
    config.addinivalue_line("markers", "synthetic_webhooks: the test emits made-up webhook payloads to test "
                                       "delivery mechanics; audit its REST responses only")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--hypothesis-profile=tier0`` a property test's own ``@settings(max_examples=N)`` is capped
    at ``TIER0_MAX_EXAMPLES`` too: every property still runs in tier 0, with its full count in tier 1.
    (Hypothesis lets explicit settings win over any profile; the cap rewrites the settings it keeps
    on the test function.)"""
    if config.getoption("hypothesis_profile", None) != "tier0":
        return
    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if isinstance(current, settings) and current.max_examples > TIER0_MAX_EXAMPLES:
            test._hypothesis_internal_use_settings = settings(current, max_examples=TIER0_MAX_EXAMPLES)


def pytest_report_header(config: pytest.Config) -> str:
    return f"trunkline corpus: {corpus_dir()} ({'found' if corpus_dir().exists() else 'MISSING'})"


# ---- sandbox fidelity audit --------------------------------------------------------------------------
# Every sandbox World a test creates is audited when the test ends: each response in its request log
# must match GitHub's REST description for that operation and status, and each webhook it emitted must
# match octokit's schema. So every sandbox-backed test is also a fidelity test.

_TOTALS: Counter[str] = Counter()
_COVERED: set[tuple[str, str, int]] = set()


@pytest.fixture(autouse=True)
def _sandbox_fidelity_audit(request: pytest.FixtureRequest) -> Iterator[None]:
    from trunkline.sandbox import world as world_module

    created: list[weakref.ref] = []
    original_init = world_module.World.__init__

    def tracking_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, *args, **kwargs)
        created.append(weakref.ref(self))

    world_module.World.__init__ = tracking_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        world_module.World.__init__ = original_init  # type: ignore[method-assign]
    if request.node.get_closest_marker("no_fidelity_audit"):
        return
    from trunkline.sandbox.fidelity import audit

    problems = []
    for ref in created:
        world = ref()
        if world is None:
            continue
        result = audit(world)
        if request.node.get_closest_marker("synthetic_webhooks"):
            result.webhook_errors.clear()
            result.webhooks_checked = 0
        _TOTALS["responses_validated"] += result.rest.validated
        _TOTALS["responses_failed"] += result.rest.failed
        _TOTALS["responses_without_schema"] += result.rest.skipped_no_schema
        _TOTALS["webhooks_checked"] += result.webhooks_checked
        _TOTALS["webhook_kinds_invalid"] += len(result.webhook_errors)
        _COVERED.update(result.rest.covered)
        if not result.ok:
            problems.append(result.summary())
    if problems:
        pytest.fail("sandbox fidelity audit failed:\n" + "\n\n".join(problems), pytrace=False)


def _fidelity_dir() -> Path:
    return _REPO_ROOT / ".bench" / "fidelity_parts"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist)
        for stale in _fidelity_dir().glob("*.json"):
            stale.unlink()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # each xdist worker (or the single process) leaves its part; the controller adds them up
    if not _TOTALS:
        return
    worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
    _fidelity_dir().mkdir(parents=True, exist_ok=True)
    part = {"totals": dict(_TOTALS), "covered": sorted([list(k) for k in _COVERED])}
    (_fidelity_dir() / f"{worker}.json").write_text(json.dumps(part))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    parts = sorted(_fidelity_dir().glob("*.json")) if _fidelity_dir().exists() else []
    if not parts:
        return
    import tempfile

    from trunkline.sandbox.fidelity import declared_json_statuses
    from trunkline.sandbox.server import create_app, list_routes
    from trunkline.sandbox.world import World

    totals: Counter[str] = Counter()
    covered: set[tuple[str, str, int]] = set()
    for path in parts:
        part = json.loads(path.read_text())
        totals.update(part["totals"])
        covered.update((m, r, int(s)) for m, r, s in part["covered"])
    with tempfile.TemporaryDirectory() as tmp:
        routes = list_routes(create_app(World(Path(tmp))))
    served = {(m, p, s) for m, p in routes for s in declared_json_statuses(m, p) if 200 <= s < 300}
    covered_2xx = {k for k in covered if 200 <= k[2] < 300}
    figures = dict(totals)
    figures["routes_served"] = len(routes)
    figures["success_schemas_declared"] = len(served)
    figures["success_schemas_validated"] = len(covered_2xx & served)
    figures["success_schema_share"] = round(len(covered_2xx & served) / len(served), 4) if served else 0.0
    out = _REPO_ROOT / ".bench" / "fidelity_suite.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    terminalreporter.write_line(f"sandbox fidelity audit: {json.dumps(figures)}")
