"""`make demo`'s customer simulator on the running demo server: a message sent as 李娜 goes
through the signed SMS webhook and her answer shows on the page; and the same in a real
browser (Debian's chromium, driven by playwright)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from billing_core.seed.demo import LI_NA
from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.e2e

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def test_a_message_sent_as_li_na_is_answered_on_the_simulator(
    demo_server: RunningServer,
) -> None:
    with httpx.Client(base_url=demo_server.base_url, timeout=30) as client:
        page = client.get("/simulator")
        assert page.status_code == 200 and LI_NA.phone in page.text

        sent = client.post("/simulator/send", data={"phone": LI_NA.phone, "body": "BILL"})
        assert sent.status_code == 303, sent.text
        back = client.get(sent.headers["location"])
        assert back.status_code == 200 and 'role="alert"' not in back.text, back.text

        messages = client.get("/simulator/messages", params={"phone": LI_NA.phone})
        assert messages.status_code == 200
        assert 'http-equiv="refresh"' in messages.text
        replies = re.findall(r'<div class="line out" data-author="bot">(.*?)</div>\s*</div>',
                             messages.text, re.S)  # fmt: skip
        assert replies, messages.text
        # Her account is named, in Chinese, with an amount (and a pay link while one is due).
        latest = replies[-1]
        assert LI_NA.account_number in latest and "¥" in latest and CHINESE.search(latest)

        # In her own words, traditional characters and all: the same answer.
        for words in ("帮我看看这个月要交多少", "請問電費多少"):
            asked = client.post("/simulator/send", data={"phone": LI_NA.phone, "body": words})
            assert asked.status_code == 303, asked.text
            shown = client.get("/simulator/messages", params={"phone": LI_NA.phone}).text
            answers = re.findall(r'<div class="line out" data-author="bot">(.*?)</div>\s*</div>',
                                 shown, re.S)  # fmt: skip
            assert len(answers) > len(replies) and LI_NA.account_number in answers[-1], words
            replies = answers

        # Anyone else's number gets no account data.
        stranger = client.post(
            "/simulator/send", data={"phone": LI_NA.phone, "other": "+8613912345678",
                                     "body": "BILL"},
        )  # fmt: skip
        assert stranger.status_code == 303
        theirs = client.get("/simulator/messages", params={"phone": "+8613912345678"})
        assert "BILL" in theirs.text
        assert LI_NA.account_number not in theirs.text and "/p/" not in theirs.text


def test_in_a_browser_li_na_texts_bill_in_chinese_and_sees_the_reply(
    demo_server: RunningServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{demo_server.base_url}/simulator")
        page.select_option("#phone", LI_NA.phone)
        page.fill("#body", "账单")
        page.click("#send")
        page.wait_for_url(re.compile(r"/simulator\?phone=%2B8613800000001$"))

        transcript = page.frame_locator("iframe.transcript")
        expect(transcript.locator(".line.in").last).to_contain_text("账单")
        answer = transcript.locator('.line.out[data-author="bot"]').last
        expect(answer).to_contain_text(LI_NA.account_number)
        expect(answer).to_contain_text("¥")
    finally:
        page.close()
