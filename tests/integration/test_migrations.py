"""Migrations on both databases: upgrade from empty, downgrade one step, upgrade again; and
the models never drift from what the migrations build."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from billing_core.db import migrate
from billing_core.tables import metadata


def test_upgrade_downgrade_upgrade_from_empty(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.is_current(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert set(metadata.tables) <= tables

    migrate.downgrade(empty_engine, "-1")
    assert not migrate.is_current(empty_engine)

    migrate.upgrade(empty_engine)
    assert migrate.is_current(empty_engine)
    assert set(metadata.tables) <= set(inspect(empty_engine).get_table_names())


def test_downgrade_to_base_removes_every_table(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}


def test_models_match_the_migrations(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, metadata)
    assert differences == []
