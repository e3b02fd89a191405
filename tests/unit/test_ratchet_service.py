"""Service plumbing: measurement recipes, the remembered measurements, baseline-only changes, annotations."""

from __future__ import annotations

from pathlib import Path

from trunkline.ratchets import service
from trunkline.ratchets.baseline import BaselineError, parse_baseline
from trunkline.ratchets.metrics import Reading, no_data
from trunkline.store.base import Store
from trunkline.store.ratchets import MeasurementRepo

BASELINE = parse_baseline("version: 1\nmetrics:\n  coverage: {kind: coverage, floor: 80}\n")


def test_recipe_digest_follows_commands_and_metric_sources_not_floors() -> None:
    digest = service.recipe_digest(["make cov"], BASELINE)
    assert digest == service.recipe_digest(["make cov"], parse_baseline(
        "version: 1\nmetrics:\n  coverage: {kind: coverage, floor: 95, tolerance: 1}\n"))  # limits: same numbers
    assert digest != service.recipe_digest(["make cov", "true"], BASELINE)
    assert digest != service.recipe_digest(["make cov"], parse_baseline(
        "version: 1\nmetrics:\n  coverage: {kind: coverage, file: other.json}\n"))


def test_measurements_are_remembered_per_commit_and_recipe(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.create_all()
    repo = MeasurementRepo(store)
    readings = {"coverage": Reading(81.5, "ok", "lines + branches"), "patch": no_data("file not found")}
    assert repo.get("Acme/Calc", "a" * 40, "d") is None
    repo.put("Acme/Calc", "a" * 40, "d", service._dump(readings), ["note"], 1.0, base_sha="b" * 40)
    got = repo.get("acme/calc", "a" * 40, "d")
    assert got is not None and service._load(got[0]) == readings and got[1:] == (["note"], "b" * 40)
    repo.put("acme/calc", "a" * 40, "d", service._dump({"coverage": Reading(90.0)}), [], 2.0, base_sha="c" * 40)
    again = repo.get("acme/calc", "a" * 40, "d")
    assert again is not None and again[2] == "c" * 40 and service._load(again[0])["coverage"].value == 90.0
    assert repo.get("acme/calc", "a" * 40, "other") is None


def test_only_baseline_changed() -> None:
    path = ".github/trunkline-ratchets.yml"
    assert service.only_baseline_changed(service.Comparison("m", frozenset({path})), path)
    assert not service.only_baseline_changed(service.Comparison("m", frozenset({path, "a.py"})), path)
    assert not service.only_baseline_changed(service.Comparison("m", None), path)  # unknown: measure
    assert not service.only_baseline_changed(service.Comparison("m", frozenset()), path)


def test_baseline_errors_become_annotations_on_their_lines() -> None:
    try:
        parse_baseline("version: 1\nmetrics:\n  cov:\n    kind: coverage\n    flor: 3\n", "b.yml")
    except BaselineError as exc:
        [note] = service._annotations("b.yml", exc)
    assert note["path"] == "b.yml" and note["start_line"] == 5
    assert note["message"] == "metrics.cov.flor: unknown key `flor`"
