"""`wattdesk telegram`: register the bot's webhook with Telegram, or run the bot by long
polling for development."""

from __future__ import annotations

import asyncio
import signal

import typer
from aiogram.exceptions import TelegramAPIError

from api.cli.common import clock, console, engine, fail, settings
from billing_core.conversations.nlu import warm as warm_recogniser
from billing_core.conversations.service import conversation_context
from billing_core.db.unit_of_work import UnitOfWorkRunner
from billing_core.settings import Settings
from bot.polling import poll, set_webhook
from bot.telegram import ALLOWED_UPDATES, TelegramBot
from bot.webhook import WEBHOOK_PATH

app = typer.Typer(help="The Telegram bot: its webhook, or long polling.", no_args_is_help=True)


def _configured() -> Settings:
    config = settings()
    if not config.telegram_enabled:
        fail("WATTDESK_TELEGRAM_BOT_TOKEN is not set: the bot is off")
    return config


@app.command("set-webhook")
def set_webhook_command() -> None:
    """Tell Telegram to post the bot's updates to WATTDESK_PUBLIC_BASE_URL/telegram/webhook,
    with the secret token it must send back, for messages and button presses."""
    config = _configured()
    if not config.telegram_webhook_secret.get_secret_value():
        fail("WATTDESK_TELEGRAM_WEBHOOK_SECRET is not set: the webhook would refuse every update")
    url = config.public_base_url.rstrip("/") + WEBHOOK_PATH

    async def register() -> bool:
        telegram = _bot(config, UnitOfWorkRunner.for_settings(config, engine()))
        try:
            return await set_webhook(telegram, url)
        finally:
            await telegram.aclose()

    try:
        done = asyncio.run(register())
    except TelegramAPIError as exc:
        fail(f"Telegram refused the webhook: {exc}")
        return
    if not done:
        fail("Telegram did not set the webhook")
    console.print(f"webhook set: {url} (updates: {', '.join(ALLOWED_UPDATES)})")


@app.command("poll")
def poll_command(
    updates: int = typer.Option(
        0, "--updates", min=0, help="Stop after this many updates (0: run until interrupted)."
    ),
    timeout: int = typer.Option(25, "--timeout", min=1, max=50, help="getUpdates' long poll, s."),
) -> None:
    """Run the bot by long polling (development): removes the webhook, then answers each
    update as the webhook would, sending the answer with the Bot. Ctrl-C stops it."""
    config = _configured()

    async def run() -> int:
        units = UnitOfWorkRunner.for_settings(config, engine())
        await units.start()
        if units.kind != "process":
            await asyncio.to_thread(warm_recogniser)
        telegram = _bot(config, units)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await poll(telegram, stop=stop, max_updates=updates or None, timeout=timeout)
        finally:
            await telegram.aclose()
            await units.aclose()

    console.print(f"polling {config.telegram_api_base} for updates (Ctrl-C stops)")
    try:
        handled = asyncio.run(run())
    except TelegramAPIError as exc:
        fail(f"Telegram refused: {exc}")
        return
    console.print(f"{handled} updates handled")


def _bot(config: Settings, units: UnitOfWorkRunner) -> TelegramBot:
    return TelegramBot.build(
        config, units=units, clock=clock(), context=conversation_context(config)
    )
