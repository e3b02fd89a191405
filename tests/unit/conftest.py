"""Unit-test fixtures shared by the store tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("TRUNKLINE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The PostgreSQL variants of the store tests talk to a database server: they are ``slow`` (tier 1,
    ``make test``); their SQLite twins stay in tier 0 (``make verify-fast``)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if "pg_schema_url" in getattr(item, "fixturenames", ()) or (
                callspec is not None and "postgresql" in callspec.id):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A SQLAlchemy URL to a fresh, empty PostgreSQL schema (dropped afterwards), so each test sees
    exactly the tables this version creates — never leftovers of another version or another test in
    the shared ``public`` schema. Skipped, with the reason, when PostgreSQL is not reachable."""
    schema = f"tl_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "not available here"
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {exc}")
    try:
        url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
