"""`POST /telegram/webhook`: Telegram's updates. The secret token Telegram was given by
set-webhook is checked in constant time before anything else (401 and nothing recorded
otherwise); the update is parsed with aiogram's types and handed to the bot's Dispatcher; the
answer is the webhook's response, as one Bot API method in JSON (the analogue of TwiML: no
second call). Telegram retries any non-2xx response, so an authentic update that is no update
we can read is logged and answered 200, never 5xx; a redelivered update_id is stored once."""

from __future__ import annotations

import hmac
import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import ValidationError

from bot.telegram import TelegramBot

log = logging.getLogger("wattdesk.bot.webhook")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
JSON = "application/json"
_NOTHING = b"{}"  # a 200 with no method: Telegram takes the update as delivered


def is_from_telegram(secret: str, header: str | None) -> bool:
    """The header equals the configured secret; with no secret configured, nothing does (an
    unprotected webhook would let anyone post a chat's updates)."""
    if not secret or header is None:
        return False
    return hmac.compare_digest(secret.encode(), header.encode("utf-8", "surrogateescape"))


def router(telegram: TelegramBot) -> APIRouter:
    """The webhook's route, bound to the bot (mounted by `api.app` when a token is set)."""

    async def telegram_webhook(request: Request) -> Response:
        if not is_from_telegram(telegram.secret, request.headers.get(SECRET_HEADER)):
            log.warning("telegram webhook refused (401): %s", "no secret configured"
                        if not telegram.secret else "wrong or missing secret token")  # fmt: skip
            return PlainTextResponse("unauthorized", status_code=401)
        body = await request.body()  # bounded by the app's limit for /telegram/ (api/limits.py)
        try:
            data = json.loads(body)
        except ValueError:
            log.warning("telegram webhook: a body that is not JSON (400)")
            return PlainTextResponse("bad request: not JSON", status_code=400)
        if not isinstance(data, dict):
            log.warning("telegram webhook: JSON that is not an object (400)")
            return PlainTextResponse("bad request: not an update", status_code=400)
        try:
            update = telegram.parse(data)
        except ValidationError as exc:
            log.warning("telegram webhook: an update we cannot read, ignored (update_id %r): %s",
                        str(data.get("update_id"))[:32], exc.errors()[:1])  # fmt: skip
            return Response(_NOTHING, media_type=JSON)
        answer = await telegram.handle(update)
        if answer is None:
            return Response(_NOTHING, media_type=JSON)
        return Response(answer.json(), media_type=JSON)

    routes = APIRouter(tags=["telegram"])
    # A plain route like Twilio's: it reads and checks the body itself, and Telegram's webhook
    # is no part of the staff API's OpenAPI document (docs/channels.md describes it).
    routes.add_route(WEBHOOK_PATH, telegram_webhook, methods=["POST"], include_in_schema=False)
    return routes
