"""`POST /sms/twilio/inbound`: Twilio's webhook for an SMS to our number. Checks Twilio's
signature over the public URL, hands the message to the conversation layer once per
MessageSid (Twilio retries), and answers the reply as TwiML in the same request."""

from __future__ import annotations

import functools
import logging
import re
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from billing_core.app_services import services
from billing_core.clock import Clock
from billing_core.conversations.model import InboundMessage, Outcome
from billing_core.conversations.service import receive_in
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
# Twilio's ids: two letters and 32 hex digits (SM…, MM…); the simulator's are alike.
MESSAGE_SID = re.compile(r"[A-Za-z]{2}[A-Za-z0-9]{1,62}")
OPT_OUT_TYPES = frozenset({"STOP", "START", "HELP"})  # Twilio's Advanced Opt-Out keywords
# TwiML as twilio's MessagingResponse writes it (ElementTree: &, < and > escaped in text).
_TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'
_TWIML_MESSAGE = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>{}</Message></Response>'


class BadInbound(ValueError):
    """A signed request that is not an SMS Twilio would send: answered 400."""


async def twilio_inbound(request: Request) -> Response:
    """An async route: reading, checking and parsing the form are cheap enough for
    the event loop; only the unit of work leaves it, through the app's unit-of-work runner
    (billing_core.db.unit_of_work: on SQLite the app's one writer, which runs the units
    waiting several to a transaction; on PostgreSQL the thread pool)."""
    app = services(request)
    settings = app.settings
    # As sent: the signature covers the parameters as encoded. Its size is bounded while it
    # is read (api/limits.py: 64 KiB on Twilio's paths), before it gets here.
    params = parse_form(await request.body())
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

    clock = app.clock
    try:
        message = inbound_message(params, clock=clock)
    except BadInbound as exc:
        log.warning("twilio inbound refused (400): %s", exc)
        return PlainTextResponse(f"bad request: {exc}", status_code=400)
    outcome = await app.units.run(
        functools.partial(receive_in, clock=clock, context=app.conversation_context,
                          message=message)
    )  # fmt: skip
    # Each request has its access-log line, and the message its row (provider id and
    # conversation): a line of its own only for what is unusual, a retry by Twilio. At
    # hundreds of messages a second a line per message is a noticeable share of the CPU.
    if outcome.duplicate:
        log.info("sms in %s: a retry of a stored message, conversation %s; %s",
                 message.provider_message_id, outcome.conversation_id,
                 "answered as stored" if outcome.reply is not None else "silent as before",
                 )  # fmt: skip
    else:
        log.debug("sms in %s: conversation %s", message.provider_message_id,
                  outcome.conversation_id)  # fmt: skip
    return Response(twiml(outcome), media_type=TWIML)


# A plain Starlette route, not a FastAPI one: the handler reads and checks the body itself and
# answers a Response, so FastAPI's per-request work (dependencies, response handling) bought
# nothing. Twilio's webhooks are not part of the staff API's
# OpenAPI document (docs/channels.md describes them).
router.add_route(INBOUND_PATH, twilio_inbound, methods=["POST"], include_in_schema=False)


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


def twiml(outcome: Outcome) -> str:
    """The reply as TwiML, in the words `sms.render` gives it; an empty <Response/> when
    the bot stays silent. A retry by Twilio is answered as the first delivery was (the
    stored reply, or nothing): its response may have been lost. Written as twilio's
    MessagingResponse writes it (tests/unit/sms hold the two equal), without building an
    element tree per request."""
    if outcome.reply is not None:
        text = sms_text(outcome.reply)
        if text:
            text = escape(text).encode("utf-8", "xmlcharrefreplace").decode("utf-8")
            return _TWIML_MESSAGE.format(text)
    return _TWIML_EMPTY


def _first(params: FormParams, name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def _single(params: FormParams, name: str) -> str:
    values = params.get(name, [""])
    if len(values) > 1:
        raise BadInbound(f"{name} is repeated")
    return values[0]
