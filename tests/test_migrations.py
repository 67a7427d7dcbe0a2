"""The schema comes from migrations; they must describe exactly the tables the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import helpdeck.tables  # noqa: F401
from tests.conftest import Api


def test_migrated_schema_matches_the_models(api: Api) -> None:
    sync_url = api.settings.database_url
    engine = create_engine(sync_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"a model changed without a migration: {diff}"
