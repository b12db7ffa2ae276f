"""The bot's handlers, one router per subject. Each handler turns its update into a command,
free text or a contact for the conversation layer (through the `Asking` the middleware gives
it) and returns the answer as a Bot API method, which the webhook sends back inline."""

from __future__ import annotations

from aiogram import Router

from bot.routers import agent, bill, free_text, menu, readings, settings, start, usage


def routers() -> list[Router]:
    """In the order they are tried: the catch-alls (free text, unknown buttons) last."""
    modules = (bill, start, menu, usage, readings, settings, agent, free_text)
    return [module.router() for module in modules]
