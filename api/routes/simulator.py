"""The customer simulator (development only): text the system as a demo customer's phone and
watch the replies and notices arrive. A message goes the way a real SMS goes: the simulator
builds the form Twilio would post, signs it like Twilio with the webhook's token, and posts
it over HTTP to this same server's `/sms/twilio/inbound`. Its Telegram page plays a Telegram
user the same way: Updates posted to `/telegram/webhook` with the secret token, the inline
answer shown with its buttons (pressing one posts its callback query)."""

from __future__ import annotations

import ipaddress
import itertools
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
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
from bot.webhook import SECRET_HEADER, WEBHOOK_PATH
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
    response = await _post_to_self(request, settings, INBOUND_PATH, data=form, headers=headers)
    return response.status_code


async def _post_to_self(
    request: Request, settings: Settings, path: str, **kwargs: Any
) -> httpx.Response:
    """Post to this server over HTTP, as the provider would (or in-process when there is no
    socket to reach: a test client), and return the answer."""
    own = _own_address(request)
    if own is not None:
        try:
            async with httpx.AsyncClient(base_url=own, timeout=WEBHOOK_TIMEOUT) as client:
                return await client.post(path, **kwargs)
        except httpx.TransportError as exc:
            log.info("simulator: %s unreachable (%s); posting in-process", own, exc)
    # Not behind a socket we can reach (a test client): the same app, route and checks,
    # called in-process.
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(
        transport=transport, base_url=settings.public_base_url, timeout=WEBHOOK_TIMEOUT
    ) as client:
        return await client.post(path, **kwargs)


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
    return transcript(session, SMS, phone, limit)


def transcript(
    session: Session, channel: str, address: str, limit: int = SHOWN
) -> list[TranscriptLine]:
    """The address's conversation on the channel and the outbox messages sent to it there,
    oldest first, the newest `limit` of them."""
    conversation_id = session.scalar(
        select(col(Conversation.id)).where(
            col(Conversation.channel) == channel, col(Conversation.address) == address
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
        .where(col(OutboxMessage.channel) == channel, col(OutboxMessage.recipient) == address)
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


# --- Telegram: the simulator plays a Telegram user, through the bot's webhook ----------------

TELEGRAM = "telegram"
# The demo customers' chats: a Telegram user id each (any positive number is a user).
DEMO_CHATS = {demo.phone: 100_000_001 + index for index, demo in enumerate(DEMO_CUSTOMERS)}
MAX_USER_ID = 10**15
_update_ids = itertools.count(int(time.time() * 1000) % 10**12)
_LAST_ANSWERS = 200  # the last answer shown per simulated chat, for this many chats


def _user(value: str | int | None) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) < MAX_USER_ID else None


def _answers(request: Request) -> dict[int, dict[str, Any]]:
    """The last inline answer each simulated chat got (what Telegram would show with its
    buttons), kept in this process: the transcript keeps the words, not the buttons."""
    state = request.app.state
    if not hasattr(state, "telegram_simulator"):
        state.telegram_simulator = {}
    answers: dict[int, dict[str, Any]] = state.telegram_simulator
    return answers


@router.get("/simulator/telegram", response_class=HTMLResponse)
def simulator_telegram(
    request: Request,
    settings: SettingsDep,
    user: Annotated[str, Query(max_length=20)] = "",
    problem: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    _development_only(settings)
    chat = _user(user) or DEMO_CHATS[DEMO_CUSTOMERS[0].phone]
    if not settings.telegram_enabled and not problem:
        problem = ("the bot is off: set WATTDESK_TELEGRAM_BOT_TOKEN (in development any "
                   "123:abc) and WATTDESK_TELEGRAM_WEBHOOK_SECRET, then restart")  # fmt: skip
    answer = _answers(request).get(chat)
    return templates.TemplateResponse(
        request,
        "simulator_telegram.html",
        {
            "demo_customers": DEMO_CUSTOMERS, "demo_chats": DEMO_CHATS, "user": chat,
            "problem": problem, "answer": _shown(answer) if answer else None,
            "transcript_url": "/simulator/telegram/messages?" + urlencode({"user": chat}),
        },
    )  # fmt: skip


@router.get("/simulator/telegram/messages", response_class=HTMLResponse)
def simulator_telegram_messages(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    user: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    _development_only(settings)
    chat = _user(user)
    lines = transcript(session, TELEGRAM, str(chat)) if chat else []
    return templates.TemplateResponse(
        request,
        "simulator_messages.html",
        {"phone": f"Telegram {chat}" if chat else "", "lines": lines, "tz": settings.tz},
    )


@router.post("/simulator/telegram/send")
async def simulator_telegram_send(
    request: Request,
    settings: SettingsDep,
    user: Annotated[str, Form(max_length=20)] = "",
    body: Annotated[str, Form(max_length=4096)] = "",
) -> RedirectResponse:
    _development_only(settings)
    chat = _user(user)
    if chat is None:
        return _back_to_chat(user, f"{user!r} is not a Telegram user id")
    if not body.strip():
        return _back_to_chat(chat, "type a message first")
    message = _message(chat)
    message["text"] = body
    if body.startswith("/"):
        command = body.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return await _deliver(request, settings, chat, {"message": message})


@router.post("/simulator/telegram/contact")
async def simulator_telegram_contact(
    request: Request,
    settings: SettingsDep,
    user: Annotated[str, Form(max_length=20)] = "",
    phone: Annotated[str, Form(max_length=64)] = "",
    whose: Annotated[str, Form(max_length=8)] = "own",
) -> RedirectResponse:
    """The share-my-phone button (the contact's user id is the sender's), or a contact from
    the address book (someone else's: no user id)."""
    _development_only(settings)
    chat = _user(user)
    if chat is None:
        return _back_to_chat(user, f"{user!r} is not a Telegram user id")
    contact: dict[str, Any] = {"phone_number": phone.strip().lstrip("+"), "first_name": "Demo"}
    if whose == "own":
        contact["user_id"] = chat
    message = _message(chat)
    message["contact"] = contact
    return await _deliver(request, settings, chat, {"message": message})


@router.post("/simulator/telegram/press")
async def simulator_telegram_press(
    request: Request,
    settings: SettingsDep,
    user: Annotated[str, Form(max_length=20)] = "",
    data: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    _development_only(settings)
    chat = _user(user)
    if chat is None:
        return _back_to_chat(user, f"{user!r} is not a Telegram user id")
    query = {
        "id": str(next(_update_ids)), "from": _from(chat), "chat_instance": str(chat),
        "data": data, "message": {**_message(chat), "text": "…", "from": _from(0)},
    }  # fmt: skip
    return await _deliver(request, settings, chat, {"callback_query": query})


def _from(chat: int) -> dict[str, Any]:
    if chat == 0:  # the bot's own message that carried the button
        return {"id": 1, "is_bot": True, "first_name": "wattdesk"}
    return {"id": chat, "is_bot": False, "first_name": "Demo", "language_code": "zh-hans"}


def _message(chat: int) -> dict[str, Any]:
    return {
        "message_id": next(_update_ids) % 10**9, "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "Demo"}, "from": _from(chat),
    }  # fmt: skip


async def _deliver(
    request: Request, settings: Settings, chat: int, update: dict[str, Any]
) -> RedirectResponse:
    """Post the update to the webhook as Telegram would (with the secret token), and keep the
    inline answer to show."""
    if not settings.telegram_enabled:
        return _back_to_chat(chat, "the bot is off (no WATTDESK_TELEGRAM_BOT_TOKEN)")
    update = {"update_id": next(_update_ids), **update}
    secret = settings.telegram_webhook_secret.get_secret_value()
    response = await _post_to_self(
        request, settings, WEBHOOK_PATH, json=update, headers={SECRET_HEADER: secret}
    )
    if response.status_code != 200:
        return _back_to_chat(chat, f"the Telegram webhook answered {response.status_code}")
    answers = _answers(request)
    answers.pop(chat, None)
    answers[chat] = response.json()
    while len(answers) > _LAST_ANSWERS:
        answers.pop(next(iter(answers)))
    return _back_to_chat(chat)


def _back_to_chat(user: str | int, problem: str = "") -> RedirectResponse:
    query = {"user": str(user), **({"problem": problem} if problem else {})}
    return RedirectResponse(f"/simulator/telegram?{urlencode(query)}", status_code=303)


@dataclass(frozen=True)
class ShownButton:
    text: str
    url: str = ""  # a link
    data: str = ""  # a callback button
    contact: bool = False  # the share-my-phone button


def _shown(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer as the page shows it: its text and its rows of buttons."""
    markup = answer.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    shown = [
        [ShownButton(str(b.get("text", "")), str(b.get("url", "")),
                     str(b.get("callback_data", "")), bool(b.get("request_contact")))
         for b in row]
        for row in rows
    ]  # fmt: skip
    return {"method": answer.get("method", ""), "text": answer.get("text", ""), "rows": shown}
