"""`POST /sms/twilio/inbound`: Twilio's webhook for an SMS to our number. Checks Twilio's
signature over the public URL, hands the message to the conversation layer once per
MessageSid (Twilio retries), and answers the reply as TwiML in the same request."""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable
from typing import TypeVar
from xml.sax.saxutils import escape

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from billing_core.clock import Clock
from billing_core.conversations.model import InboundMessage, Outcome
from billing_core.conversations.service import (
    ConversationContext,
    conversation_context,
    receive_message,
)
from billing_core.db import session_scope
from billing_core.db.engine import IMMEDIATE, SQLITE_BEGIN
from billing_core.settings import Settings
from sms.signature import (
    SIGNATURE_HEADER,
    FormParams,
    is_signed_by_twilio,
    parse_form,
    public_url,
    webhook_auth_token,
)

log = logging.getLogger("wattdesk.sms.inbound")
T = TypeVar("T")

router = APIRouter(tags=["sms"])

INBOUND_PATH = "/sms/twilio/inbound"
SMS = "sms"
TWIML = "application/xml"
# Twilio posts a few hundred bytes (1,600 characters of text at most); anything far larger
# is not Twilio and is refused before it is parsed.
MAX_BODY_BYTES = 64 * 1024
# Twilio's ids: two letters and 32 hex digits (SM…, MM…); the simulator's are alike.
MESSAGE_SID = re.compile(r"[A-Za-z]{2}[A-Za-z0-9]{1,62}")
OPT_OUT_TYPES = frozenset({"STOP", "START", "HELP"})  # Twilio's Advanced Opt-Out keywords
# A concurrent retry of the same MessageSid, a SQLite writer that found the file locked or a
# PostgreSQL deadlock victim: the whole unit of work runs again (and then sees a duplicate).
RETRIES = 3
# SQLite lets one writer in: the event loop's webhook transactions go to the thread pool one
# at a time, in the order they arrived (anyio's limiter is first come, first served, and
# hands the work to the thread that just finished, still warm). A lock taken inside the
# thread pool let every waiting request hold a thread, and handed itself on in no order.
_SQLITE_WRITER: RunVar[CapacityLimiter] = RunVar("sms_sqlite_writer")
_SQLITE_IMMEDIATE = {SQLITE_BEGIN: IMMEDIATE}
# TwiML as twilio's MessagingResponse writes it (ElementTree: &, < and > escaped in text).
_TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'
_TWIML_MESSAGE = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>{}</Message></Response>'


class BadInbound(ValueError):
    """A signed request that is not an SMS Twilio would send: answered 400."""


def app_conversation_context(request: Request) -> ConversationContext:
    """The conversation layer's context (settings joined with its policies), made once."""
    context: ConversationContext | None = getattr(request.app.state, "conversation_context", None)
    if context is None:
        context = conversation_context(request.app.state.settings)
        request.app.state.conversation_context = context
    return context


@router.post(INBOUND_PATH, response_class=Response)
async def twilio_inbound(request: Request) -> Response:
    """An async route: reading, checking and parsing the form take tens of microseconds on
    the event loop; only the unit of work goes to a worker thread (`in_worker`)."""
    settings: Settings = request.app.state.settings
    body = await request.body()  # as sent: the signature covers the parameters as encoded
    if len(body) > MAX_BODY_BYTES:
        log.warning("twilio inbound refused: a %d-byte body", len(body))
        return PlainTextResponse("request too large", status_code=413)
    params = parse_form(body)
    url = public_url(settings, request.url.path, request.url.query)
    token = webhook_auth_token(settings)
    signature = request.headers.get(SIGNATURE_HEADER)
    if token is None or not is_signed_by_twilio(
        token=token, url=url, params=params, signature=signature
    ):
        reason = (
            "no auth token configured"
            if token is None
            else ("no signature" if not signature else "signature does not match")
        )
        # The URL checked and the claimed id help find a proxy or base-URL mistake; the
        # token, the signature and the message stay out of the logs.
        log.warning("twilio inbound refused (403): %s; url %s, MessageSid %r", reason, url,
                    _first(params, "MessageSid")[:64])  # fmt: skip
        return PlainTextResponse("invalid signature", status_code=403)

    clock: Clock = request.app.state.clock
    try:
        message = inbound_message(params, clock=clock)
    except BadInbound as exc:
        log.warning("twilio inbound refused (400): %s", exc)
        return PlainTextResponse(f"bad request: {exc}", status_code=400)
    engine: Engine = request.app.state.engine
    outcome = await in_worker(
        engine,
        functools.partial(
            receive_once, engine=engine, clock=clock,
            context=app_conversation_context(request), message=message,
        ),
    )  # fmt: skip
    log.info("sms in %s: conversation %s%s", message.provider_message_id,
             outcome.conversation_id, " (duplicate)" if outcome.duplicate else "")  # fmt: skip
    return Response(twiml(outcome), media_type=TWIML)


async def in_worker(engine: Engine, work: Callable[[], T]) -> T:
    """Run the unit of work in the thread pool (with this request's context: its log lines
    carry the request id); on SQLite one at a time, in the order the requests came."""
    if engine.dialect.name != "sqlite":
        return await anyio.to_thread.run_sync(work)
    try:
        writer = _SQLITE_WRITER.get()
    except LookupError:
        writer = CapacityLimiter(1)
        _SQLITE_WRITER.set(writer)
    return await anyio.to_thread.run_sync(work, limiter=writer)


def inbound_message(params: FormParams, *, clock: Clock) -> InboundMessage:
    """The channel-neutral message for a verified form, or BadInbound. The conversation
    layer reads the sender as E.164 (a sender that is no phone number identifies nobody)."""
    message_sid = _single(params, "MessageSid")
    if not MESSAGE_SID.fullmatch(message_sid):
        raise BadInbound("MessageSid is missing or malformed")
    sender = _single(params, "From").strip()
    if not sender:
        raise BadInbound("From is missing")
    opt_out = _single(params, "OptOutType").strip().upper()
    return InboundMessage(
        channel=SMS,
        sender=sender,
        body=_single(params, "Body"),
        provider_message_id=message_sid,
        received_at=clock.now(),
        opt_out_type=opt_out if opt_out in OPT_OUT_TYPES else None,
    )


def receive_once(
    *, engine: Engine, clock: Clock, context: ConversationContext, message: InboundMessage
) -> Outcome:
    """One unit of work for the message. A concurrent delivery of the same MessageSid that
    commits first makes ours fail on the unique key: run again, and it is a duplicate.

    On SQLite the transaction begins IMMEDIATE: it holds the write lock from its first
    statement. A transaction that reads first and writes later fails at once ("database is
    locked") if another writer (another process) committed in between; one that takes the
    lock at BEGIN waits for it (the busy timeout) instead."""
    for attempt in range(RETRIES + 1):
        try:
            with session_scope(engine) as session:
                session.connection(execution_options=_SQLITE_IMMEDIATE)
                return receive_message(
                    session=session, clock=clock, context=context, inbound=message
                )
        except (IntegrityError, OperationalError) as exc:
            if attempt == RETRIES or not _transient(exc):
                raise
            log.info("sms in %s: %s, retrying", message.provider_message_id,
                     type(exc.orig).__name__)  # fmt: skip
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def twiml(outcome: Outcome) -> str:
    """The reply as TwiML; an empty <Response/> when the bot stays silent or the message
    was already answered (Twilio retried). Written as twilio's MessagingResponse writes it
    (tests/unit/sms hold the two equal), without building an element tree per request."""
    if outcome.reply and not outcome.duplicate:
        text = escape(outcome.reply).encode("utf-8", "xmlcharrefreplace").decode("utf-8")
        return _TWIML_MESSAGE.format(text)
    return _TWIML_EMPTY


def _transient(exc: IntegrityError | OperationalError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    message = str(exc.orig).lower()
    code = getattr(exc.orig, "sqlstate", None)
    return "database is locked" in message or code in ("40001", "40P01")


def _first(params: FormParams, name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def _single(params: FormParams, name: str) -> str:
    values = params.get(name, [""])
    if len(values) > 1:
        raise BadInbound(f"{name} is repeated")
    return values[0]
