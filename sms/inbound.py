"""`POST /sms/twilio/inbound`: Twilio's webhook for an SMS to our number. Checks Twilio's
signature over the public URL, hands the message to the conversation layer once per
MessageSid (Twilio retries), and answers the reply as TwiML in the same request."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session
from twilio.twiml.messaging_response import MessagingResponse

from billing_core.clock import Clock
from billing_core.conversations.model import InboundMessage, Outcome
from billing_core.conversations.service import (
    ConversationContext,
    conversation_context,
    receive_message,
)
from billing_core.db import session_scope
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
_SQLITE_WRITER = threading.Lock()  # one webhook transaction at a time in this process


class BadInbound(ValueError):
    """A signed request that is not an SMS Twilio would send: answered 400."""


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers its parameters as Twilio encoded them."""
    return await request.body()


async def app_conversation_context(request: Request) -> ConversationContext:
    """The conversation layer's context (settings joined with its policies), made once (an
    async dependency: no trip to the thread pool on every request)."""
    context: ConversationContext | None = getattr(request.app.state, "conversation_context", None)
    if context is None:
        context = conversation_context(request.app.state.settings)
        request.app.state.conversation_context = context
    return context


@router.post(INBOUND_PATH, response_class=Response)
def twilio_inbound(
    request: Request,
    body: Annotated[bytes, Depends(raw_body)],
    context: Annotated[ConversationContext, Depends(app_conversation_context)],
) -> Response:
    settings: Settings = request.app.state.settings
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
    outcome = receive_once(
        engine=request.app.state.engine, clock=clock, context=context, message=message
    )
    log.info("sms in %s: conversation %s%s", message.provider_message_id,
             outcome.conversation_id, " (duplicate)" if outcome.duplicate else "")  # fmt: skip
    return Response(twiml(outcome), media_type=TWIML)


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
    commits first makes ours fail on the unique key: run again, and it is a duplicate."""
    for attempt in range(RETRIES + 1):
        try:
            if engine.dialect.name != "sqlite":
                with session_scope(engine) as session:
                    return receive_message(
                        session=session, clock=clock, context=context, inbound=message
                    )
            with _SQLITE_WRITER, session_scope(engine) as session:
                _take_write_lock(session)
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


def _take_write_lock(session: Session) -> None:
    """SQLite lets one writer in. A transaction that reads first and writes later fails at
    once ("database is locked") if another writer committed in between; one whose first
    statement writes waits for the lock (the busy timeout) instead. This write changes
    nothing. (Between this process's own requests, _SQLITE_WRITER hands the turn on
    without the busy handler's sleeps.)"""
    session.execute(text("UPDATE conversation SET id = id WHERE 0"))


def twiml(outcome: Outcome) -> str:
    """The reply as TwiML; an empty <Response/> when the bot stays silent or the message
    was already answered (Twilio retried)."""
    response = MessagingResponse()
    if outcome.reply and not outcome.duplicate:
        response.message(outcome.reply)
    return str(response)


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
