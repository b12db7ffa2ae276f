"""The customer simulator (development only): text the system as a demo customer's phone and
watch the replies and notices arrive. A message goes the way a real SMS goes: the simulator
builds the form Twilio would post, signs it like Twilio with the webhook's token, and posts
it over HTTP to this same server's `/sms/twilio/inbound`."""

from __future__ import annotations

import ipaddress
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlmodel import Session, col

from api.deps import SessionDep, SettingsDep
from billing_core.conversations.identity import normalise_phone
from billing_core.outbox.tables import OutboxMessage
from billing_core.seed.demo import DEMO_CUSTOMERS
from billing_core.settings import Environment, Settings
from billing_core.transcripts.tables import Conversation, ConversationMessage
from sms.inbound import INBOUND_PATH
from sms.signature import SIGNATURE_HEADER, public_url, sign, webhook_auth_token

log = logging.getLogger("wattdesk.simulator")

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

SMS = "sms"
SIMULATED_TO = "+15005550006"  # Twilio's test number, when no sending number is configured
SIMULATED_ACCOUNT_SID = "AC" + "0" * 32
SHOWN = 60  # messages on the page, newest last
WEBHOOK_TIMEOUT = 15.0  # what Twilio waits for an answer


def _development_only(settings: Settings) -> None:
    if settings.env != Environment.development:
        raise HTTPException(status_code=404)


@router.get("/simulator", response_class=HTMLResponse)
def simulator(
    request: Request,
    settings: SettingsDep,
    phone: Annotated[str, Query(max_length=64)] = "",
    other: Annotated[str, Query(max_length=64)] = "",
    problem: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    _development_only(settings)
    typed = (other or phone).strip()
    number = normalise_phone(typed, settings.phone_region) if typed else None
    if typed and number is None and not problem:
        problem = f"{typed!r} is not a phone number"
    demo_phones = {demo.phone for demo in DEMO_CUSTOMERS}
    return templates.TemplateResponse(
        request,
        "simulator.html",
        {
            "demo_customers": DEMO_CUSTOMERS,
            "phone": number or "",
            "other": number if number and number not in demo_phones else "",
            "problem": problem,
            "to": settings.twilio_from or SIMULATED_TO,
            "transcript_url": "/simulator/messages?" + urlencode({"phone": number or ""}),
        },
    )


@router.get("/simulator/messages", response_class=HTMLResponse)
def simulator_messages(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    phone: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The phone's messages in and out; refreshes itself every few seconds (in a frame, so
    that the message being typed on the page around it is not lost)."""
    _development_only(settings)
    number = normalise_phone(phone, settings.phone_region) if phone else None
    lines = sms_transcript(session, number) if number else []
    return templates.TemplateResponse(
        request,
        "simulator_messages.html",
        {"phone": number or "", "lines": lines, "tz": settings.tz},
    )


@router.post("/simulator/send")
async def simulator_send(
    request: Request,
    settings: SettingsDep,
    phone: Annotated[str, Form(max_length=64)] = "",
    other: Annotated[str, Form(max_length=64)] = "",
    body: Annotated[str, Form(max_length=1600)] = "",
) -> RedirectResponse:
    _development_only(settings)
    typed = (other or phone).strip()
    number = normalise_phone(typed, settings.phone_region)
    if number is None:
        return _back(typed, f"{typed!r} is not a phone number")
    if not body.strip():
        return _back(number, "type a message first")
    status = await post_like_twilio(request, settings, sender=number, body=body)
    if status != 200:
        return _back(number, f"the SMS webhook answered {status}")
    return _back(number)


def _back(phone: str, problem: str = "") -> RedirectResponse:
    query = {"phone": phone, **({"problem": problem} if problem else {})}
    return RedirectResponse(f"/simulator?{urlencode(query)}", status_code=303)


def twilio_form(settings: Settings, *, sender: str, body: str) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS (the fields wattdesk reads, and a few)."""
    sid = "SMsim" + uuid.uuid4().hex[:29]  # 34 characters, like Twilio's
    form = {
        "ToCountry": "",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "MessageSid": sid,
        "AccountSid": settings.twilio_account_sid or SIMULATED_ACCOUNT_SID,
        "From": sender,
        "To": settings.twilio_from or SIMULATED_TO,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    if settings.twilio_messaging_service_sid:
        form["MessagingServiceSid"] = settings.twilio_messaging_service_sid
    return form


async def post_like_twilio(request: Request, settings: Settings, *, sender: str, body: str) -> int:
    """Sign the form over the public URL and post it to this server; returns the status."""
    token = webhook_auth_token(settings)
    if token is None:
        return 403
    form = twilio_form(settings, sender=sender, body=body)
    headers = {SIGNATURE_HEADER: sign(token=token, url=public_url(settings, INBOUND_PATH),
                                      params=form)}  # fmt: skip
    own = _own_address(request)
    if own is not None:
        try:
            async with httpx.AsyncClient(base_url=own, timeout=WEBHOOK_TIMEOUT) as client:
                response = await client.post(INBOUND_PATH, data=form, headers=headers)
            return response.status_code
        except httpx.TransportError as exc:
            log.info("simulator: %s unreachable (%s); posting in-process", own, exc)
    # Not behind a socket we can reach (a test client): the same app, route and signature
    # check, called in-process.
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(
        transport=transport, base_url=settings.public_base_url, timeout=WEBHOOK_TIMEOUT
    ) as client:
        response = await client.post(INBOUND_PATH, data=form, headers=headers)
    return response.status_code


def _own_address(request: Request) -> str | None:
    """The socket this request arrived on: this very server (WATTDESK_PUBLIC_BASE_URL may
    name a proxy, or another server on the default port)."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        return None
    host, port = server
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{port}"


@dataclass(frozen=True)
class TranscriptLine:
    at: datetime
    direction: str  # in, out
    author: str  # customer, bot, agent, system; notices: the outbox template
    body: str
    status: str


def sms_transcript(session: Session, phone: str, limit: int = SHOWN) -> list[TranscriptLine]:
    """The phone's SMS conversation and the outbox messages sent to it (notices, receipts,
    codes), oldest first, the newest `limit` of them."""
    conversation_id = session.scalar(
        select(col(Conversation.id)).where(
            col(Conversation.channel) == SMS, col(Conversation.address) == phone
        )
    )
    lines: list[TranscriptLine] = []
    linked: set[int] = set()
    if conversation_id is not None:
        message = ConversationMessage
        messages = session.scalars(
            select(message)
            .where(col(message.conversation_id) == conversation_id)
            .order_by(col(message.created_at).desc(), col(message.id).desc())
            .limit(limit)
        ).all()  # fmt: skip
        for row in reversed(messages):
            if row.outbox_message_id is not None:
                linked.add(row.outbox_message_id)
            lines.append(TranscriptLine(row.created_at, row.direction, row.author, row.body,
                                        row.status))  # fmt: skip
    outbox = session.scalars(
        select(OutboxMessage)
        .where(col(OutboxMessage.channel) == SMS, col(OutboxMessage.recipient) == phone)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(limit)
    ).all()  # fmt: skip
    for sent in reversed(outbox):
        if sent.id not in linked:
            lines.append(
                TranscriptLine(sent.created_at, "out", sent.template, sent.body, sent.status)
            )
    lines.sort(key=lambda line: line.at)  # stable: a reply stays after its question
    return lines[-limit:]
