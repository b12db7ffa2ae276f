"""`POST /sms/twilio/inbound` on SQLite and PostgreSQL: requests signed the way Twilio signs
them (twilio's own RequestValidator) reach the app; only those are answered, once per
MessageSid, with TwiML; no request, however odd, makes it fail with a 500."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlmodel import col

from api.app import create_app
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account
from billing_core.db import session_scope
from billing_core.db.group_commit import GroupCommit
from billing_core.db.writer_process import WriterProcess
from billing_core.outbox.tables import OptOut
from billing_core.seed.demo import LI_NA, ensure_demo_customers
from billing_core.settings import (
    DEMO_TWILIO_AUTH_TOKEN,
    Environment,
    Settings,
    SettingsError,
    load_settings,
)
from billing_core.transcripts.tables import Conversation, ConversationMessage
from sms.inbound import INBOUND_PATH
from sms.signature import SIGNATURE_HEADER, sign, webhook_auth_token
from tests.conftest import migrated_database
from tests.factories import make_account, make_bill, make_charge, make_contact, make_customer

CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))  # 10:00 in Asia/Shanghai
TOKEN = "test-auth-token"
PUBLIC = "http://127.0.0.1:8000"  # the default WATTDESK_PUBLIC_BASE_URL
LI_NA_DUE = Decimal("123.45")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
PAY_LINK = re.compile(r"https?://\S+/p/[A-Za-z0-9_-]{22,}")


# --- the app and its data --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sms_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A dedicated, migrated database of each kind: the webhook commits into it. 李娜 is
    there, with a verified phone and an issued bill whose charge is posted."""
    with migrated_database(db_kind, tmp_path_factory.mktemp("sms-db")) as engine:
        with session_scope(engine) as session:
            ensure_demo_customers(session=session, clock=CLOCK, until=date(2026, 11, 10))
            account = session.scalars(
                select(Account).where(col(Account.number) == LI_NA.account_number)
            ).one()
            bill = make_bill(
                session, account=account, period_start=date(2026, 10, 10), total=LI_NA_DUE,
                period_end=date(2026, 11, 10), due_date=date(2026, 12, 5),
                at=CLOCK.now() - timedelta(days=15),
            )  # fmt: skip
            make_charge(
                session, bill=bill, on=date(2026, 11, 11), at=CLOCK.now() - timedelta(days=15)
            )
        yield engine


def sms_settings(tmp_path_factory: pytest.TempPathFactory, **overrides: object) -> Settings:
    return load_settings(data_dir=tmp_path_factory.mktemp("sms"), _env_file=None, **overrides)


@pytest.fixture(scope="module")
def app_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return sms_settings(tmp_path_factory, twilio_auth_token=TOKEN)


@pytest.fixture(scope="module")
def client(app_settings: Settings, sms_engine: Engine) -> Iterator[TestClient]:
    app = create_app(app_settings, engine=sms_engine, clock=CLOCK, configure_logs=False)
    with TestClient(app) as test_client:
        yield test_client


def twilio_form(sender: str, body: str, sid: str | None = None, **extra: str) -> dict[str, str]:
    sid = sid or "SM" + uuid.uuid4().hex
    return {
        "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "AccountSid": "AC" + "1" * 32,
        "From": sender, "To": "+15005550006", "Body": body, "NumMedia": "0",
        "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01", **extra,
    }  # fmt: skip


def post_signed(
    client: TestClient,
    form: Mapping[str, str],
    *,
    token: str = TOKEN,
    signed_url: str = PUBLIC + INBOUND_PATH,
    path: str = INBOUND_PATH,
    signature: str | None = None,
) -> httpx.Response:
    """Post the form as Twilio would, its signature computed over `signed_url`."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers[SIGNATURE_HEADER] = signature or sign(token=token, url=signed_url, params=form)
    return client.post(path, content=urlencode(form).encode(), headers=headers)


def reply_of(response: httpx.Response) -> str | None:
    """The TwiML answer's message text (None: an empty <Response/>)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.text)
    assert root.tag == "Response"
    messages = root.findall("Message")
    assert len(messages) <= 1
    return messages[0].text if messages else None


@dataclass(frozen=True)
class Stored:
    inbound: int  # messages in with this MessageSid
    conversation_messages: int  # all messages of the sender's conversation
    replies: int  # messages out of it


def stored(engine: Engine, sender: str, sid: str) -> Stored:
    with session_scope(engine) as session:
        inbound = session.scalar(
            select(func.count()).select_from(ConversationMessage)
            .where(col(ConversationMessage.provider_message_id) == sid)
        )  # fmt: skip
        conversation = session.scalars(
            select(Conversation).where(
                col(Conversation.channel) == "sms", col(Conversation.address) == sender
            )
        ).first()
        if conversation is None:
            return Stored(inbound or 0, 0, 0)
        rows = session.scalars(
            select(ConversationMessage)
            .where(col(ConversationMessage.conversation_id) == conversation.id)
        ).all()  # fmt: skip
        replies = sum(1 for row in rows if row.direction == "out")
        return Stored(inbound or 0, len(rows), replies)


def new_verified_number(engine: Engine) -> str:
    """A customer of our own, with an account and a verified SMS number (no bill)."""
    with session_scope(engine) as session:
        at = CLOCK.now() - timedelta(days=30)
        customer = make_customer(session, at=at)
        make_account(session, customer=customer)
        address = f"+86137{uuid.uuid4().int % 10**8:08d}"
        return make_contact(session, customer=customer, at=at, address=address).address


def unknown_number() -> str:
    return f"+86139{uuid.uuid4().int % 10**8:08d}"


# --- answering -------------------------------------------------------------------------------


def test_signed_bill_from_li_na_answers_her_balance_and_a_pay_link_in_chinese(
    client: TestClient, sms_engine: Engine
) -> None:
    form = twilio_form(LI_NA.phone, "BILL")
    reply = reply_of(post_signed(client, form))

    assert reply is not None
    assert "123.45" in reply
    link = PAY_LINK.search(reply)
    assert link and link.group(0).startswith(f"{PUBLIC}/p/"), reply
    assert CHINESE.search(reply), reply
    after = stored(sms_engine, LI_NA.phone, form["MessageSid"])
    assert after.inbound == 1 and after.replies >= 1


def test_a_pay_link_in_the_reply_opens_her_pay_page(client: TestClient) -> None:
    reply = reply_of(post_signed(client, twilio_form(LI_NA.phone, "账单")))
    assert reply is not None
    link = PAY_LINK.search(reply)
    assert link, reply
    page = client.get(link.group(0).removeprefix(PUBLIC))
    assert page.status_code == 200 and LI_NA.account_number in page.text


def test_a_sender_in_national_format_is_the_same_customer(client: TestClient) -> None:
    national = LI_NA.phone.removeprefix("+86")  # 13800000001, region CN
    reply = reply_of(post_signed(client, twilio_form(national, "BILL")))
    assert reply is not None and "123.45" in reply


def test_bill_from_an_unknown_number_reveals_no_account_data(
    client: TestClient, sms_engine: Engine
) -> None:
    sender = unknown_number()
    for body in ("BILL", "账单", f"BILL {LI_NA.account_number}", "PAY"):
        reply = reply_of(post_signed(client, twilio_form(sender, body))) or ""
        for secret in ("123.45", "/p/", LI_NA.account_number, LI_NA.name, "李", "¥",
                       LI_NA.service_address[:6], "朝阳"):  # fmt: skip
            assert secret not in reply, (body, reply)
    assert stored(sms_engine, sender, "-").conversation_messages >= 4


# --- refusing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how",
    ["unsigned", "empty signature", "another token", "the demo token", "another URL",
     "the request's own URL", "another path", "tampered body", "a missing parameter"],
)  # fmt: skip
def test_a_request_not_signed_by_twilio_is_refused_and_nothing_is_stored(
    client: TestClient, sms_engine: Engine, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    form = twilio_form(LI_NA.phone, "BILL")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    content = urlencode(form)
    good = sign(token=TOKEN, url=PUBLIC + INBOUND_PATH, params=form)
    if how == "empty signature":
        headers[SIGNATURE_HEADER] = ""
    elif how == "another token":
        headers[SIGNATURE_HEADER] = sign(token="not-the-token", url=PUBLIC + INBOUND_PATH,
                                         params=form)  # fmt: skip
    elif how == "the demo token":  # a real token is configured: the demo one is no key
        headers[SIGNATURE_HEADER] = sign(token=DEMO_TWILIO_AUTH_TOKEN,
                                         url=PUBLIC + INBOUND_PATH, params=form)  # fmt: skip
    elif how == "another URL":
        headers[SIGNATURE_HEADER] = sign(token=TOKEN, url="https://evil.example" + INBOUND_PATH,
                                         params=form)  # fmt: skip
    elif how == "the request's own URL":  # not the public one Twilio was given
        headers[SIGNATURE_HEADER] = sign(token=TOKEN, url="http://testserver" + INBOUND_PATH,
                                         params=form)  # fmt: skip
    elif how == "another path":
        headers[SIGNATURE_HEADER] = sign(token=TOKEN, url=PUBLIC + "/sms/twilio/status",
                                         params=form)  # fmt: skip
    elif how == "tampered body":
        headers[SIGNATURE_HEADER] = good
        content = content.replace("BILL", "STOP")
    elif how == "a missing parameter":
        headers[SIGNATURE_HEADER] = good
        content = urlencode({k: v for k, v in form.items() if k != "NumMedia"})
    caplog.set_level("WARNING", logger="wattdesk.sms.inbound")

    response = client.post(INBOUND_PATH, content=content.encode(), headers=headers)

    assert response.status_code == 403, (how, response.text)
    assert stored(sms_engine, LI_NA.phone, form["MessageSid"]).inbound == 0
    refusals = [r for r in caplog.records if "refused (403)" in r.getMessage()]
    assert refusals, how
    logged = " ".join(r.getMessage() for r in refusals)
    assert TOKEN not in logged and good not in logged and "BILL" not in logged


def test_a_sender_that_is_no_phone_number_identifies_nobody(client: TestClient) -> None:
    for sender in ("not a number", "WATTDESK", "10086", LI_NA.phone + "0"):
        reply = reply_of(post_signed(client, twilio_form(sender, "BILL"))) or ""
        assert "123.45" not in reply and "/p/" not in reply, (sender, reply)


def test_no_message_sid_or_no_sender_is_a_bad_request(client: TestClient) -> None:
    without_sid = {k: v for k, v in twilio_form(LI_NA.phone, "BILL").items()
                   if k != "MessageSid"}  # fmt: skip
    assert post_signed(client, without_sid).status_code == 400
    assert post_signed(client, twilio_form("", "BILL")).status_code == 400
    too_long = twilio_form(LI_NA.phone, "BILL", sid="SM" + "x" * 80)
    assert post_signed(client, too_long).status_code == 400
    # Repeated fields are ambiguous: refused, not guessed.
    form = twilio_form(LI_NA.phone, "BILL")
    content = urlencode(form) + "&Body=STOP"
    signature = sign(token=TOKEN, url=PUBLIC + INBOUND_PATH,
                     params={**form, "Body": ["BILL", "STOP"]})  # fmt: skip
    response = client.post(
        INBOUND_PATH, content=content.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 SIGNATURE_HEADER: signature},
    )  # fmt: skip
    assert response.status_code == 400


def test_an_oversized_body_is_refused_before_it_is_read_as_a_form(client: TestClient) -> None:
    form = twilio_form(LI_NA.phone, "x" * 70_000)
    assert post_signed(client, form).status_code == 413


# --- Twilio retries --------------------------------------------------------------------------


def test_the_same_message_sid_twice_is_one_message_and_one_reply(
    client: TestClient, sms_engine: Engine
) -> None:
    form = twilio_form(LI_NA.phone, "BILL")
    before = stored(sms_engine, LI_NA.phone, form["MessageSid"])

    first = reply_of(post_signed(client, form))
    second = reply_of(post_signed(client, form))

    assert first and "123.45" in first
    assert second == first  # answered as the first time (its response may have been lost)
    after = stored(sms_engine, LI_NA.phone, form["MessageSid"])
    assert after.inbound == 1
    assert after.replies - before.replies == 1
    assert after.conversation_messages - before.conversation_messages == 2


def test_a_retry_is_logged_and_a_first_delivery_only_by_its_access_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    form = twilio_form(LI_NA.phone, "HELP")
    with caplog.at_level(logging.INFO, logger="wattdesk.sms.inbound"):
        reply_of(post_signed(client, form))
        assert not [r for r in caplog.records if r.name == "wattdesk.sms.inbound"]
        reply_of(post_signed(client, form))
    [line] = [r for r in caplog.records if r.name == "wattdesk.sms.inbound"]
    assert line.levelno == logging.INFO
    assert form["MessageSid"] in line.getMessage() and "a retry" in line.getMessage()


def test_concurrent_retries_of_one_message_sid_store_it_once(
    app_settings: Settings, sms_engine: Engine
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # Two apps on one database, as two web processes: each app's lifespan runs in its own
    # event loop (one app in two loops at once is no deployment, and its live-event hub
    # belongs to one loop).
    apps = [create_app(app_settings, engine=sms_engine, clock=CLOCK, configure_logs=False)
            for _ in range(2)]  # fmt: skip
    sender = new_verified_number(sms_engine)
    form = twilio_form(sender, "HELP")
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two, ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda c: reply_of(post_signed(c, form)), [one, two] * 2))
    # each delivery Twilio still waits for is answered, with the one reply stored
    assert answers[0] and answers == [answers[0]] * 4, answers
    assert stored(sms_engine, sender, form["MessageSid"]).inbound == 1


@pytest.mark.parametrize("writer_kind", ["process", "thread"])
def test_concurrent_webhooks_each_get_their_own_answer(
    app_settings: Settings, sms_engine: Engine, writer_kind: str
) -> None:
    """Webhooks arriving together: on SQLite they share the writer's transactions (group
    commit), in a child process or in a thread of the web process (the setting
    `sqlite_writer`); every one is stored once and answered as it would be alone."""
    settings = app_settings.model_copy(update={"sqlite_writer": writer_kind})
    app = create_app(settings, engine=sms_engine, clock=CLOCK, configure_logs=False)
    others = [new_verified_number(sms_engine) for _ in range(8)]
    forms = [twilio_form(LI_NA.phone, "BILL") for _ in range(8)]
    forms += [twilio_form(number, "HELP") for number in others]

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
            return list(await asyncio.gather(*(
                http.post(INBOUND_PATH, content=urlencode(form).encode(), headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    SIGNATURE_HEADER: sign(token=TOKEN, url=PUBLIC + INBOUND_PATH, params=form),
                })
                for form in forms
            )))  # fmt: skip

    try:
        replies = [reply_of(response) for response in asyncio.run(post_all())]
        writer = app.state.services.units.writer
    finally:
        app.state.services.units.close()
    bills, helps = replies[:8], replies[8:]
    assert all(reply and "123.45" in reply and PAY_LINK.search(reply) for reply in bills)
    links = {PAY_LINK.search(reply or "").group(0) for reply in bills}  # type: ignore[union-attr]
    assert len(links) == 1  # the first answer's link, offered again to the seven others
    assert all(reply and reply == helps[0] for reply in helps)
    for form in forms:
        assert stored(sms_engine, form["From"], form["MessageSid"]).inbound == 1
    if sms_engine.dialect.name == "sqlite":
        kind = WriterProcess if writer_kind == "process" else GroupCommit
        assert isinstance(writer, kind)
        if isinstance(writer, WriterProcess):  # its log lines carry the request's id
            assert writer.config.carried == ("api.logging_setup:request_id_var",)
        assert writer.units == 16
        assert writer.batches < 16  # some went in together
    else:
        assert writer is None  # PostgreSQL: side by side in the thread pool


# --- behind a TLS-terminating proxy --------------------------------------------------------


def test_behind_a_proxy_the_signature_is_checked_over_the_public_https_url(
    tmp_path_factory: pytest.TempPathFactory, sms_engine: Engine
) -> None:
    public = "https://sms.example.com"
    behind = sms_settings(tmp_path_factory, twilio_auth_token=TOKEN, public_base_url=public)
    app = create_app(behind, engine=sms_engine, clock=CLOCK, configure_logs=False)
    with TestClient(app, base_url="http://testserver") as proxied:
        form = twilio_form(LI_NA.phone, "BILL")
        accepted = post_signed(proxied, form, signed_url=public + INBOUND_PATH)
        reply = reply_of(accepted)
        assert reply and f"{public}/p/" in reply

        # Twilio signs the URL it was configured with, query string and all.
        query = twilio_form(unknown_number(), "HELP")
        assert post_signed(proxied, query, signed_url=f"{public}{INBOUND_PATH}?site=bj",
                           path=f"{INBOUND_PATH}?site=bj").status_code == 200  # fmt: skip
        # What the app sees (plain http, another host) is not what Twilio signed.
        seen = twilio_form(LI_NA.phone, "BILL")
        assert post_signed(proxied, seen, signed_url="http://testserver" + INBOUND_PATH
                           ).status_code == 403  # fmt: skip
        # Twilio signs with or without the default port.
        port = twilio_form(unknown_number(), "HELP")
        assert post_signed(proxied, port, signed_url="https://sms.example.com:443" + INBOUND_PATH
                           ).status_code == 200  # fmt: skip


# --- opting out ------------------------------------------------------------------------------


def test_opt_out_type_stop_records_the_opt_out(client: TestClient, sms_engine: Engine) -> None:
    sender = new_verified_number(sms_engine)
    reply_of(post_signed(client, twilio_form(sender, "stop please", OptOutType="STOP")))
    with session_scope(sms_engine) as session:
        opt_out = session.scalars(
            select(OptOut).where(col(OptOut.channel) == "sms", col(OptOut.address) == sender)
        ).first()
    assert opt_out is not None


def test_a_stop_keyword_records_the_opt_out_and_start_lifts_it(
    client: TestClient, sms_engine: Engine
) -> None:
    sender = new_verified_number(sms_engine)

    def opted_out() -> bool:
        with session_scope(sms_engine) as session:
            return session.scalar(
                select(func.count()).select_from(OptOut)
                .where(col(OptOut.channel) == "sms", col(OptOut.address) == sender)
            ) == 1  # fmt: skip

    reply_of(post_signed(client, twilio_form(sender, "退订", OptOutType="STOP")))
    assert opted_out()
    reply_of(post_signed(client, twilio_form(sender, "START", OptOutType="START")))
    assert not opted_out()


# --- the token -------------------------------------------------------------------------------


def test_development_without_a_token_checks_against_the_demo_token(
    tmp_path_factory: pytest.TempPathFactory, sms_engine: Engine
) -> None:
    development = sms_settings(tmp_path_factory)
    assert webhook_auth_token(development) == DEMO_TWILIO_AUTH_TOKEN
    app = create_app(development, engine=sms_engine, clock=CLOCK, configure_logs=False)
    with TestClient(app) as demo:
        form = twilio_form(unknown_number(), "HELP")
        assert post_signed(demo, form, token=DEMO_TWILIO_AUTH_TOKEN).status_code == 200
        other = twilio_form(unknown_number(), "HELP")
        assert post_signed(demo, other, token=TOKEN).status_code == 403


PRODUCTION = {"env": "production", "payment_provider": "stripe",
              "stripe_api_key": "sk_test_x", "stripe_webhook_secret": "whsec_x",
              "secret_key": "a-production-secret-key-of-48-characters-0123456"}  # fmt: skip


def test_production_needs_twilio_credentials_and_refuses_the_demo_token() -> None:
    with pytest.raises(SettingsError) as missing:
        load_settings(_env_file=None, **PRODUCTION)
    for variable in ("WATTDESK_TWILIO_ACCOUNT_SID", "WATTDESK_TWILIO_AUTH_TOKEN",
                     "WATTDESK_TWILIO_FROM"):  # fmt: skip
        assert variable in str(missing.value)
    with pytest.raises(SettingsError, match="demo token is refused in production"):
        load_settings(_env_file=None, twilio_account_sid="AC1", twilio_from="+15005550006",
                      twilio_auth_token=DEMO_TWILIO_AUTH_TOKEN, **PRODUCTION)  # fmt: skip
    ready = load_settings(_env_file=None, twilio_account_sid="AC1", twilio_auth_token="real",
                          twilio_messaging_service_sid="MG1", **PRODUCTION)  # fmt: skip
    assert ready.twilio_configured and webhook_auth_token(ready) == "real"
    assert "real" not in str(ready.masked())


def test_a_production_app_without_a_token_refuses_every_webhook(
    app_settings: Settings, sms_engine: Engine
) -> None:
    # Settings copied past their validators: the webhook still never falls back to the
    # published demo token.
    production = app_settings.model_copy(update={
        "env": Environment.production, "payment_provider": "stripe",
        "stripe_api_key": app_settings.stripe_api_key.__class__("sk_test_x"),
        "stripe_webhook_secret": app_settings.stripe_webhook_secret.__class__("whsec_x"),
        "twilio_auth_token": app_settings.twilio_auth_token.__class__(""),
        "secret_key": app_settings.secret_key.__class__(str(PRODUCTION["secret_key"])),
    })  # fmt: skip
    assert webhook_auth_token(production) is None
    app = create_app(production, engine=sms_engine, clock=CLOCK, configure_logs=False)
    with TestClient(app) as refused:
        form = twilio_form(LI_NA.phone, "BILL")
        assert post_signed(refused, form, token=DEMO_TWILIO_AUTH_TOKEN).status_code == 403
        assert post_signed(refused, form, token="").status_code == 403
        assert refused.get("/simulator").status_code == 404
        assert refused.post("/simulator/send", data={"phone": LI_NA.phone, "body": "BILL"}
                            ).status_code == 404  # fmt: skip


# --- the simulator, in-process -------------------------------------------------------------


def test_the_simulator_posts_a_signed_webhook_and_shows_the_reply(
    client: TestClient, sms_engine: Engine
) -> None:
    # A test client has no socket to post to: the simulator calls the app in-process,
    # through the same route and signature check.
    sent = client.post("/simulator/send", data={"phone": LI_NA.phone, "body": "BILL"},
                       follow_redirects=False)  # fmt: skip
    assert sent.status_code == 303
    assert sent.headers["location"] == "/simulator?phone=%2B8613800000001"
    page = client.get(sent.headers["location"])
    assert page.status_code == 200 and "/simulator/messages?phone=%2B8613800000001" in page.text
    messages = client.get("/simulator/messages", params={"phone": LI_NA.phone})
    assert messages.status_code == 200
    assert 'http-equiv="refresh"' in messages.text
    assert "BILL" in messages.text and "123.45" in messages.text and "/p/" in messages.text


def test_the_simulator_takes_any_number_and_says_when_it_is_not_one(client: TestClient) -> None:
    other = unknown_number()
    sent = client.post("/simulator/send", data={"phone": LI_NA.phone, "other": other,
                                                "body": "HELP"})  # fmt: skip
    assert sent.status_code == 200 and other in sent.text
    bad = client.post("/simulator/send", data={"phone": "", "other": "abc", "body": "HELP"})
    assert bad.status_code == 200 and "not a phone number" in bad.text


# --- fuzzing -------------------------------------------------------------------------------

PARAMETER_NAMES = st.text(min_size=1, max_size=30).filter(
    lambda name: name not in {"MessageSid", "From"}
)
ODD_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(max_size=2000),
    st.sampled_from(["", " ", "\x00", "\x00BILL", "BILL\r\n", "😀" * 400, "账单\u200b",
                     "\ufeffBILL", "<Response>&amp;</Response>", "]]>", "STOP", "AGENT",
                     "人工", "LINK 1000000001", "%00", "+", "=&="]),
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_senders(sms_engine: Engine) -> list[str]:
    return [new_verified_number(sms_engine) for _ in range(3)]


@hypothesis_settings(
    max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(data=st.data())
def test_fuzzed_signed_webhooks_never_fail_with_a_server_error(
    client: TestClient, fuzz_senders: list[str], data: st.DataObject
) -> None:
    sender = data.draw(
        st.one_of(st.sampled_from(fuzz_senders), st.just(unknown_number()), ODD_TEXT),
        label="From",
    )
    body = data.draw(ODD_TEXT, label="Body")
    extra = data.draw(st.dictionaries(PARAMETER_NAMES, ODD_TEXT, max_size=6), label="extra")
    opt_out = data.draw(st.one_of(st.none(), st.sampled_from(["STOP", "START", "HELP"]),
                                  ODD_TEXT), label="OptOutType")  # fmt: skip
    form = {**twilio_form(sender, body), **extra}
    form["MessageSid"] = "SM" + uuid.uuid4().hex
    form["From"] = sender
    if opt_out is not None:
        form["OptOutType"] = opt_out

    response = post_signed(client, form)  # a server error raises here (TestClient)

    event(f"status {response.status_code}")
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code == 200:
        reply_of(response)
