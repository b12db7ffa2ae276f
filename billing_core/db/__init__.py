"""Database plumbing shared by every service: engines, the unit of work and column types."""

from sqlmodel import SQLModel

# Named constraints, so migrations can drop and alter them on SQLite and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

from billing_core.db.engine import create_db_engine, session_scope  # noqa: E402
from billing_core.db.types import DecimalType, UTCDateTime  # noqa: E402

__all__ = ["DecimalType", "UTCDateTime", "create_db_engine", "session_scope"]
