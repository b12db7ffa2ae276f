"""The bot's Dispatcher: the routers in their order, and aiogram's error middleware only while
some router has an error handler for it to call."""

from __future__ import annotations

from pathlib import Path

from aiogram.dispatcher.middlewares.error import ErrorsMiddleware
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from sqlalchemy import create_engine

from billing_core.clock import SystemClock
from billing_core.conversations.service import conversation_context
from billing_core.db.unit_of_work import UnitOfWorkRunner
from billing_core.settings import load_settings
from bot import telegram
from bot.desk import Desk
from bot.middleware import DeskMiddleware


def desk(tmp_path: Path) -> Desk:
    settings = load_settings(data_dir=tmp_path, _env_file=None)
    units = UnitOfWorkRunner(create_engine("sqlite://"), kind="direct")  # never runs here
    return Desk(units=units, clock=SystemClock(), context=conversation_context(settings))


def test_no_error_handler_no_error_middleware(tmp_path: Path) -> None:
    dispatcher = telegram.make_dispatcher(desk(tmp_path))
    kinds = [type(m) for m in dispatcher.update.outer_middleware]
    assert kinds == [UserContextMiddleware, DeskMiddleware]
    names = [router.name for router in dispatcher.sub_routers]
    assert names[0] == "bill" and names[-1] == "free_text"


def test_an_error_handler_keeps_it() -> None:
    fresh = telegram.Dispatcher(disable_fsm=True)
    fresh.errors.register(lambda event: None)
    telegram._without_idle_error_middleware(fresh)
    assert any(isinstance(m, ErrorsMiddleware) for m in fresh.update.outer_middleware)
