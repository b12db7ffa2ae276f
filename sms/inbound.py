"""`POST /sms/twilio/inbound`: Twilio's webhook for an SMS to our number. Checks Twilio's
signature over the public URL, hands the message to the conversation layer once per
MessageSid (Twilio retries), and answers the reply as TwiML in the same request."""

from __future__ import annotations

import functools
import logging
import re
from typing import Any
from xml.sax.saxutils import escape

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.conversations.model import InboundMessage, Outcome
from billing_core.conversations.service import (
    ConversationContext,
    conversation_context,
    receive_message,
)
from billing_core.db.engine import IMMEDIATE, SQLITE_BEGIN
from billing_core.db.group_commit import GroupCommit, run_transaction
from billing_core.db.writer_process import WriterProcess, is_sqlite_file
from billing_core.settings import Settings
from sms.render import sms_text
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
# SQLite lets one writer in: the webhooks' units of work go to one writer thread, in the
# order they arrived, several to a transaction (billing_core.db.group_commit). Handing each
# to a pool thread of its own and back cost about as much CPU as its unit of work.
WRITER_STATE = "sms_sqlite_writer"
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


async def twilio_inbound(request: Request) -> Response:
    """An async route: reading, checking and parsing the form take tens of microseconds on
    the event loop; only the unit of work goes to a thread: on SQLite the app's one writer
    (`sqlite_writer`), on PostgreSQL the thread pool."""
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
    context = app_conversation_context(request)
    if engine.dialect.name == "sqlite":
        receive = functools.partial(receive_in, clock=clock, context=context, message=message)
        outcome = await sqlite_writer(request.app.state, engine).run(receive)
    else:
        outcome = await anyio.to_thread.run_sync(
            functools.partial(
                receive_once, engine=engine, clock=clock, context=context, message=message
            )
        )
    # Each request has its access-log line, and the message its row (provider id and
    # conversation): a line of its own only for what is unusual, a retry by Twilio. At
    # hundreds of messages a second the extra line per message cost a tenth of the CPU.
    if outcome.duplicate:
        log.info("sms in %s: a retry of a stored message, conversation %s; not answered again",
                 message.provider_message_id, outcome.conversation_id)  # fmt: skip
    else:
        log.debug("sms in %s: conversation %s", message.provider_message_id,
                  outcome.conversation_id)  # fmt: skip
    return Response(twiml(outcome), media_type=TWIML)


# A plain Starlette route, not a FastAPI one: the handler reads and checks the body itself and
# answers a Response, so FastAPI's per-request work (dependencies, response handling: about
# 110 µs of CPU here) bought nothing. Twilio's webhooks are not part of the staff API's
# OpenAPI document (docs/channels.md describes them).
router.add_route(INBOUND_PATH, twilio_inbound, methods=["POST"], include_in_schema=False)


def sqlite_writer(state: Any, engine: Engine) -> GroupCommit | WriterProcess:
    """The app's one SQLite writer for webhooks (made on first use, closed by the app's
    lifespan): SQLite lets one writer in, so the webhooks' units of work queue for it and
    whatever has queued while one transaction ran goes in the next, together. With the
    setting `sqlite_writer=process` (the default) and a database file, the writer is a
    child process, so that the writes use a core the event loop does not; the app's state
    may give it `writer_process_setup` (its logging) and `writer_process_carried` (the
    context variables its log lines read)."""
    writer: GroupCommit | WriterProcess | None = getattr(state, WRITER_STATE, None)
    if writer is None or writer.engine is not engine:
        settings: Settings = state.settings
        if settings.sqlite_writer == "process" and is_sqlite_file(engine):
            writer = WriterProcess(
                engine, connection_options=_SQLITE_IMMEDIATE, transient=_transient,
                retries=RETRIES, setup=getattr(state, "writer_process_setup", None),
                carried=getattr(state, "writer_process_carried", ()),
            )  # fmt: skip
        else:
            writer = GroupCommit(
                engine, connection_options=_SQLITE_IMMEDIATE, transient=_transient,
                retries=RETRIES,
            )  # fmt: skip
        setattr(state, WRITER_STATE, writer)
    return writer


async def start_sqlite_writer(state: Any, engine: Engine) -> None:
    """At the app's start: a writer process starts now rather than on the first webhook."""
    if engine.dialect.name == "sqlite":
        writer = sqlite_writer(state, engine)
        if isinstance(writer, WriterProcess):
            await writer.start()


async def aclose_sqlite_writer(state: Any) -> None:
    """At the app's end: stop its webhook writer, if it made one, once its queue is done."""
    writer: GroupCommit | WriterProcess | None = getattr(state, WRITER_STATE, None)
    if isinstance(writer, WriterProcess):
        await writer.aclose()
    close_sqlite_writer(state)


def close_sqlite_writer(state: Any) -> None:
    """Stop the app's webhook writer, if it made one, once its queue is done (a writer
    process: from outside its event loop)."""
    writer: GroupCommit | WriterProcess | None = getattr(state, WRITER_STATE, None)
    if writer is not None:
        log.info("webhook writer: units of work %d, transactions %d",
                 writer.units, writer.batches)  # fmt: skip
        writer.close()
        setattr(state, WRITER_STATE, None)


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
    """One unit of work for the message, in its own transaction (PostgreSQL: many run at
    once, each in a pool thread). A concurrent delivery of the same MessageSid that commits
    first makes ours fail on the unique key: run again, and it is a duplicate."""
    return run_transaction(
        engine, functools.partial(receive_in, clock=clock, context=context, message=message),
        connection_options=_SQLITE_IMMEDIATE, transient=_transient, retries=RETRIES,
    )  # fmt: skip


def receive_in(
    session: Session, *, clock: Clock, context: ConversationContext, message: InboundMessage
) -> Outcome:
    """The message's unit of work in `session`'s transaction."""
    return receive_message(session=session, clock=clock, context=context, inbound=message)


def twiml(outcome: Outcome) -> str:
    """The reply as TwiML, in the words `sms.render` gives it; an empty <Response/> when
    the bot stays silent or the message was already answered (Twilio retried). Written as
    twilio's MessagingResponse writes it (tests/unit/sms hold the two equal), without
    building an element tree per request."""
    if outcome.reply is not None and not outcome.duplicate:
        text = sms_text(outcome.reply)
        if text:
            text = escape(text).encode("utf-8", "xmlcharrefreplace").decode("utf-8")
            return _TWIML_MESSAGE.format(text)
    return _TWIML_EMPTY


def _transient(exc: BaseException) -> bool:
    """A concurrent retry of the same MessageSid, a SQLite writer that found the file locked
    or a PostgreSQL deadlock victim: worth running the whole unit of work again."""
    if isinstance(exc, IntegrityError):
        return True
    if not isinstance(exc, OperationalError):
        return False
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
