"""One store per process: ``ctx.store`` (lazy), ``process_store()``, and what ``build_pool`` installs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trunkline.corpus import webhook_examples_dir
from trunkline.events.context import Context
from trunkline.merge import service as merge
from trunkline.settings import Settings
from trunkline.store import base
from trunkline.store.base import Store, process_store, set_process_store

PUSH = json.loads((webhook_examples_dir() / "push" / "with-installation.payload.json").read_text())


@pytest.fixture(autouse=True)
def _restore_process_store():
    saved = base._process_store
    yield
    base._process_store = saved


def test_context_store_is_made_on_first_use_from_its_factory() -> None:
    made: list[object] = []

    def factory() -> object:
        made.append(object())
        return made[-1]

    ctx = Context.build("push", "d1", PUSH, store_factory=factory)
    assert made == [], "building a context opens no database"
    assert ctx.store is made[0] and ctx.store is made[0] and len(made) == 1


def test_without_a_factory_every_context_shares_the_process_store(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/p.db")
    set_process_store(store)
    a, b = Context.build("push", "d1", PUSH), Context.build("push", "d2", PUSH)
    assert a.store is store and b.store is store
    assert merge.default_store() is store and merge.store_of(a) is store
    other = object()
    assert merge.store_of(a, other) is other, "an explicit store wins"


def test_first_pool_store_wins_unless_replaced(tmp_path: Path) -> None:
    set_process_store(None)
    first, second = Store(f"sqlite:///{tmp_path}/1.db"), Store(f"sqlite:///{tmp_path}/2.db")
    assert set_process_store(first, replace=False) is first
    assert set_process_store(second, replace=False) is first and process_store() is first
    assert set_process_store(second) is second


def test_process_store_is_made_from_the_environment_with_its_schema(tmp_path: Path, monkeypatch) -> None:
    set_process_store(None)
    monkeypatch.setenv("TRUNKLINE_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    store = process_store()
    try:
        assert store.url == Settings.from_env().database_url and process_store() is store
        from trunkline.store.migrations import status

        assert status(store).up_to_date, "opened at this version's schema"
    finally:
        store.dispose()
