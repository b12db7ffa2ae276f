"""Request body limits, enforced for every route in one place, while the body is read and
before anything parses it.

A body larger than its route's limit is answered 413 at once when its Content-Length says
so (nothing of it is read), or the moment the bytes read pass the limit (a chunked body, or
one longer than its Content-Length claims): the app never holds more than the limit and
one chunk of it, whoever sends what. New routes get the default without doing anything;
a route that takes more (or should take less) gets a line in `LIMITS`."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("wattdesk.http")

KiB = 1024
MiB = 1024 * KiB

# Every route without a line below: the staff API's JSON bodies, the pay pages' forms and
# the simulator's are a few KB.
DEFAULT_MAX_BODY = 1 * MiB
# Twilio posts a few hundred bytes to its webhooks (1,600 characters of text at most).
TWILIO_MAX_BODY = 64 * KiB
# Stripe's objects are small by design (metadata at most 50 keys of 500 characters, lists
# inside an event cut to their first page), so a Checkout Session event is a few KB. The
# limit leaves a hundred times that: an event refused for its size is retried by Stripe for
# days and then dropped, while the cost of a larger limit is only memory per request.
STRIPE_MAX_BODY = 512 * KiB
# Telegram's updates are small (a message's text is at most 4,096 characters).
TELEGRAM_MAX_BODY = 1 * MiB
# A batch of readings or payments holds up to 10,000 items (MAX_READINGS, MAX_PAYMENTS) of a
# few hundred bytes each as JSON: 20 MiB leaves about 2 KB an item, pretty-printed or not.
# A larger import is split by the caller (each part is its own batch), so this is no
# setting: a larger body could not be a valid batch.
BULK_MAX_BODY = 20 * MiB


@dataclass(frozen=True)
class Limit:
    path: str  # a path, or a prefix when it ends with "/"
    max_bytes: int

    def matches(self, path: str) -> bool:
        return path.startswith(self.path) if self.path.endswith("/") else path == self.path


# The first line that matches a request's path sets its limit (a test holds each to a route).
LIMITS: tuple[Limit, ...] = (
    Limit("/sms/twilio/", TWILIO_MAX_BODY),  # the inbound SMS webhook and delivery reports
    Limit("/payments/stripe/webhook", STRIPE_MAX_BODY),
    Limit("/telegram/", TELEGRAM_MAX_BODY),
    Limit("/api/v1/readings", BULK_MAX_BODY),
    Limit("/api/v1/payments", BULK_MAX_BODY),  # the batch; refunds and the rest: the default
)

_CONTENT_LENGTH = b"content-length"
_TOO_LARGE = json.dumps({"detail": "request body too large", "error": "payload_too_large"}).encode()


def limit_for(path: str, limits: Sequence[Limit] = LIMITS, default: int = DEFAULT_MAX_BODY) -> int:
    return next((limit.max_bytes for limit in limits if limit.matches(path)), default)


class BodyTooLarge(Exception):
    """Raised from `receive` inside the app when the body passes its limit: whatever the app
    was doing with the body stops there."""


class BodySizeLimit:
    """Plain ASGI middleware (as RequestIdAndAccessLog, for the same reason): 413 for a body
    over its route's limit, without reading more of it than the limit."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Sequence[Limit] = LIMITS,
        default: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.app = app
        self.limits = tuple(limits)
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"], self.limits, self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            log.warning("refused a %d-byte body (limit %d) for %s", declared, limit, scope["path"])
            await _answer_too_large(send)
            return

        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's own answer to the failed read: 413 is sent instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # BodyTooLarge, or whatever the app made of it; once an answer has begun there is
            # no 413 to give, and the server closes the connection.
            if not exceeded or started:
                raise
        if exceeded and not started:
            log.warning("refused a body past %d bytes for %s", limit, scope["path"])
            await _answer_too_large(send)


def _content_length(scope: Scope) -> int | None:
    """The declared length, when there is one sane one (the server refuses a malformed or
    contradictory header itself; the bytes are counted in any case)."""
    for key, value in scope["headers"]:
        if key == _CONTENT_LENGTH:
            return int(value) if value.isdigit() and len(value) <= 20 else None
    return None


async def _answer_too_large(send: Send) -> None:
    # Connection: close: the server stops reading what is left of the body instead of
    # reading and discarding it for as long as the sender cares to send.
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_TOO_LARGE)).encode()),
            (b"connection", b"close"),
        ],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": _TOO_LARGE})
