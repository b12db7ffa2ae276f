"""The staff user and API token tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, instant


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    full_name: str = Field(default="", max_length=200)
    role: str = Field(max_length=20)
    password_hash: str = Field(max_length=255)
    active: bool = True
    created_at: datetime = Field(sa_column=instant())


class StaffToken(SQLModel, table=True):
    """A personal API token (`Authorization: Bearer …`) with a lifetime. Only the token's
    SHA-256 is stored: the token itself is shown once, when it is made. No column is written
    when a token is used, so that signing in never writes."""

    __tablename__ = "staff_token"

    id: int | None = Field(default=None, primary_key=True)
    staff_user_id: int = Field(sa_column=foreign_key("staff_user.id"))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    label: str = Field(default="", max_length=100)
    created_at: datetime = Field(sa_column=instant())
    expires_at: datetime = Field(sa_column=instant())
    revoked_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    created_by: str = Field(max_length=100)


class StaffSession(SQLModel, table=True):
    """A console sign-in (a browser's session cookie) with an absolute expiry. Only the
    cookie value's SHA-256 is stored; signing out deletes the row. Nothing is written when a
    session is used, so that a page read never writes."""

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    staff_user_id: int = Field(sa_column=foreign_key("staff_user.id", ondelete="CASCADE"))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(sa_column=instant())
    expires_at: datetime = Field(sa_column=instant())
