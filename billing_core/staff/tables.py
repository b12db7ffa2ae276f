"""The staff user table."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from billing_core.db.columns import instant


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    full_name: str = Field(default="", max_length=200)
    role: str = Field(max_length=20)
    password_hash: str = Field(max_length=255)
    active: bool = True
    created_at: datetime = Field(sa_column=instant())
