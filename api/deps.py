"""FastAPI dependencies: the settings, the clock and one unit of work per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.db import session_scope
from billing_core.payments.service import PaymentContext
from billing_core.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_payment_context(request: Request) -> PaymentContext:
    """The app's PaymentContext (settings joined with policies/payments.yaml), made at start."""
    context: PaymentContext = request.app.state.payment_context
    return context


PaymentContextDep = Annotated[PaymentContext, Depends(get_payment_context)]
