"""The staff console in a real browser (Debian's chromium, driven by playwright) on the running
demo server: two agents signed in, each in a browser context of their own; Emma Brown texts
`人工` through the Twilio webhook, signed as Twilio signs it; both inboxes show her
conversation (live, within 2 s and without a reload, once the live events stream is in this
build); agent A takes it over; agent B sees that A has it, the reply box is disabled and the
server refuses B's reply (409); A replies and the outbox holds the reply to her phone; A
hands back, and her next `BILL` gets the bot's answer. Screenshots of the inbox and the
conversation go to var/screenshots/ for a person to look at."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing_core.seed.demo import EMMA_BROWN
from billing_core.settings import load_settings
from billing_core.staff.demo import DEMO_STAFF
from sms.inbound import INBOUND_PATH
from sms.signature import SIGNATURE_HEADER, public_url, sign, webhook_auth_token
from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
AGENT_A, AGENT_B = (staff for staff in DEMO_STAFF if staff.role.value == "agent")
ADMIN = next(staff for staff in DEMO_STAFF if staff.role.value == "admin")
LIVE_WITHIN_MS = 2000
REPLY = "Hello Emma, this is Wang from customer service. I am looking at your bill now."


def text_as_twilio(server: RunningServer, sender: str, body: str) -> httpx.Response:
    """An incoming SMS posted to the server's webhook, signed with its token over its public
    URL, as Twilio does."""
    settings = load_settings(data_dir=server.data_dir, _env_file=None)
    token = webhook_auth_token(settings)
    assert token is not None
    sid = "SM" + uuid.uuid4().hex
    form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender,
            "To": "+15005550006", "Body": body, "NumMedia": "0", "NumSegments": "1"}  # fmt: skip
    signature = sign(token=token, url=public_url(settings, INBOUND_PATH), params=form)
    return httpx.post(f"{server.base_url}{INBOUND_PATH}", data=form,
                      headers={SIGNATURE_HEADER: signature}, timeout=30)  # fmt: skip


def signed_in_page(browser: Any, server: RunningServer, username: str, password: str) -> Any:
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/console")
    assert "/console/login" in page.url  # signed out: sent to the sign-in page
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r"/console$"))
    return page


def emma_row(page: Any) -> Any:
    return page.locator("tr.row", has_text=EMMA_BROWN.phone)


def test_two_agents_one_takes_over_replies_and_hands_back(
    demo_server: RunningServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    a = signed_in_page(browser, demo_server, AGENT_A.username, AGENT_A.password)
    b = signed_in_page(browser, demo_server, AGENT_B.username, AGENT_B.password)
    try:
        for page in (a, b):
            page.goto("/console?state=queued")
            expect(emma_row(page)).to_have_count(0)

        asked = text_as_twilio(demo_server, EMMA_BROWN.phone, "人工")
        assert asked.status_code == 200, asked.text

        # Both inboxes show her within 2 s, without a reload (the live event stream).
        for page in (a, b):
            expect(emma_row(page)).to_be_visible(timeout=LIVE_WITHIN_MS)
        for page in (a, b):
            row = emma_row(page)
            expect(row).to_be_visible()
            expect(row).to_contain_text(EMMA_BROWN.name)
            expect(row).to_contain_text("waiting for a person")
            expect(row.locator(".count")).to_have_text("1")  # 人工 is unread
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        a.screenshot(path=str(SCREENSHOTS / "console-inbox.png"), full_page=True)

        # A takes it over.
        emma_row(a).get_by_role("link").click()
        a.wait_for_url(re.compile(r"/console/conversations/\d+$"))
        conversation_url = a.url
        conversation_id = int(conversation_url.rsplit("/", 1)[1])
        expect(a.locator("#transcript")).to_contain_text("人工")
        expect(a.locator("#reply-body")).to_be_disabled()
        a.click("#take-over")
        expect(a.locator("#owner-text")).to_have_text("You have this conversation.")
        expect(a.locator("#reply-body")).to_be_enabled()

        # B sees that A has it and cannot reply; the server refuses B's reply too.
        b.goto(conversation_url)
        expect(b.locator("#owner-text")).to_contain_text(
            f"{AGENT_A.username} has this conversation"
        )
        expect(b.locator("#reply-body")).to_be_disabled()
        expect(b.locator("#send-reply")).to_be_disabled()
        expect(b.locator("#take-over")).to_have_count(0)
        token_b = b.locator('meta[name="csrf-token"]').get_attribute("content")
        refused = b.context.request.post(
            f"/api/v1/conversations/{conversation_id}/reply", data={"body": "me too"},
            headers={"X-CSRF-Token": token_b, "Content-Type": "application/json"},
        )  # fmt: skip
        assert refused.status == 409, refused.text()

        # A replies, with a canned greeting inserted first and then replaced.
        a.locator("[data-canned]").first.click()
        expect(a.locator("#reply-body")).not_to_have_value("")
        a.fill("#reply-body", REPLY)
        a.click("#send-reply")
        expect(a.locator(".flash.ok")).to_contain_text("reply sent to the outbox")
        expect(a.locator("#transcript .msg.author-agent").last).to_contain_text(REPLY)
        a.fill("#note-body", "She asked for a person about her bill; replied in English.")
        a.click("#note-form button")
        expect(a.locator("#notes")).to_contain_text("replied in English")
        a.screenshot(path=str(SCREENSHOTS / "console-conversation.png"), full_page=True)
        assert_outbox_holds_the_reply(demo_server)

        # A hands back; her next BILL gets the bot's answer.
        a.click("#hand-back")
        expect(a.locator("#owner-text")).to_have_text("The bot is answering.")
        answer = text_as_twilio(demo_server, EMMA_BROWN.phone, "BILL")
        assert answer.status_code == 200
        assert EMMA_BROWN.account_number in answer.text, answer.text
    finally:
        a.context.close()
        b.context.close()


def assert_outbox_holds_the_reply(server: RunningServer) -> None:
    """An agent_message to Emma's phone is in the outbox (pending, or sent by the demo's
    dispatcher already)."""
    found = []
    with httpx.Client(base_url=server.base_url, auth=(ADMIN.username, ADMIN.password),
                      timeout=15) as client:  # fmt: skip
        for status in ("pending", "sending", "sent", "delivered"):
            items = client.get("/api/v1/outbox", params={"status": status}).json()["items"]
            found += [item for item in items if item["recipient"] == EMMA_BROWN.phone
                      and item["template"] == "agent_message"]  # fmt: skip
    assert found, "no agent_message to Emma Brown in the outbox"


def test_an_admin_signs_up_a_customer_and_fits_a_meter_on_the_customer_page(
    demo_server: RunningServer, browser: Any
) -> None:
    """新装 as a counter clerk does it: a new customer, a phone attested at the counter, an
    account, its meter; a reading typed with a comma comes back with the field named and
    nothing stored. Screenshot: var/screenshots/console-customer.png."""
    from playwright.sync_api import expect

    page = signed_in_page(browser, demo_server, ADMIN.username, ADMIN.password)
    try:
        page.goto("/console/customers")
        page.get_by_text("New customer…").click()
        page.fill("input[name=name]", "Zhou Min")
        page.select_option("select[name=language]", "en")
        page.get_by_role("button", name="Create customer").click()
        page.wait_for_url(re.compile(r"/console/customers/\d+\?done="))
        expect(page.locator(".flash.ok")).to_contain_text("customer Zhou Min created")

        phone = f"139{uuid.uuid4().int % 10**8:08d}"
        page.get_by_text("Add contact…").click()
        page.fill("input[name=address]", phone)
        page.fill("input[name=attested]", "ID card seen at the counter")
        page.get_by_role("button", name="Add contact").click()
        contact = page.locator("tr[data-contact-id]", has_text=f"+86{phone}")
        expect(contact).to_contain_text("yes")  # verified: staff attested it

        number = f"{uuid.uuid4().int % 10**10:010d}"
        page.get_by_text("Open an account…").click()
        form = page.locator("form[action$='/accounts']")
        form.locator("input[name=number]").fill(number)
        form.locator("input[name=service_address]").fill("8 Garden Lane")
        form.locator("input[name=reading_day]").fill("15")
        form.locator("input[name=opened_on]").fill("2026-12-01")
        form.get_by_role("button", name="Open account").click()
        expect(page.locator(".flash.ok")).to_contain_text(f"account {number} opened")

        page.get_by_text("Install meter…").click()
        meter = page.locator(f"form[action='/console/accounts/{number}/meters']")
        meter.locator("input[name=serial]").fill("ZM2026001")
        meter.locator("input[name=installed_on]").fill("2026-12-01")
        meter.locator("input[name=initial_total]").fill("12,5")  # a comma, as people type it
        meter.get_by_role("button", name="Install meter").click()
        expect(page.locator(".flash.problem")).to_contain_text("initial_total")
        expect(page.get_by_text("No meter yet.")).to_be_visible()  # nothing stored
        page.get_by_text("Install meter…").click()
        meter.locator("input[name=serial]").fill("ZM2026001")
        meter.locator("input[name=installed_on]").fill("2026-12-01")
        meter.locator("input[name=initial_total]").fill("12.5")
        meter.get_by_role("button", name="Install meter").click()
        expect(page.locator(".flash.ok")).to_contain_text("meter ZM2026001 installed")
        expect(page.locator("tr[data-meter-id]", has_text="ZM2026001")).to_contain_text("plain")
        page.get_by_text("Record a care flag…").click()
        care = page.locator("form[action$='/sensitivities']")
        care.locator("select[name=kind]").select_option("infant")
        care.locator("input[name=note]").fill("a baby born in November")
        care.get_by_role("button", name="Record care flag").click()
        expect(page.locator(".flash.ok")).to_contain_text("care flag recorded")
        expect(page.locator("tr[data-flag-id]")).to_contain_text("an infant in the household")
        page.get_by_text("Remove meter ZM2026001…").click()  # open, for the screenshot
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "console-customer.png"), full_page=True)

        # Her employer's group, with one consolidated notice to her (var/.../console-groups.png)
        customer_id = re.search(r"/console/customers/(\d+)", page.url)
        assert customer_id is not None
        page.goto("/console/groups")
        page.get_by_text("New group…").click()
        new_group = page.locator("form[action='/console/groups']")
        new_group.locator("input[name=code]").fill("ZM-WORKS")
        new_group.locator("input[name=name]").fill("Zhou's Works 周氏工坊")
        new_group.get_by_role("button", name="Create group").click()
        row = page.locator("tr[data-group-id]", has_text="ZM-WORKS")
        expect(row).to_contain_text("per account (consolidated, but no contact customer)")
        row.get_by_text("Edit…").click()
        row.locator("input[name=contact_customer_id]").fill(customer_id[1])
        row.get_by_role("button", name="Save group").click()
        expect(page.locator(".flash.ok")).to_contain_text(
            f"one consolidated notice, to customer {customer_id[1]}")  # fmt: skip
        expect(row).to_contain_text("Zhou Min")
        page.screenshot(path=str(SCREENSHOTS / "console-groups.png"), full_page=True)
    finally:
        page.context.close()
