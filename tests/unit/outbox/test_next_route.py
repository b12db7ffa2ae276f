"""The fallback rule: a message its channel cannot carry goes by the customer's next usable
channel in the order of preference, or nowhere, with the reason it records."""

from __future__ import annotations

from billing_core.outbox.model import AUTOMATED, REPLY, ContactOption, Route, next_route

TELEGRAM = ContactOption("telegram", "700")
PHONE = ContactOption("sms", "+8613800000001")


def route(*contacts: ContactOption, kind: str = AUTOMATED, secret: bool = False,
          deliverable: frozenset[str] = frozenset({"sms"})) -> Route:  # fmt: skip
    return next_route(channel="telegram", why="telegram not configured", kind=kind,
                      secret=secret, contacts=contacts, deliverable=deliverable)  # fmt: skip


def test_the_next_verified_channel_takes_the_message_with_the_reason() -> None:
    assert route(TELEGRAM, PHONE) == Route(
        "sms", PHONE.address, "sent by sms: telegram not configured"
    )


def test_the_first_usable_number_is_chosen() -> None:
    stopped = ContactOption("sms", "+8613800000009", opted_out=True)
    blocked = ContactOption("sms", "+8613800000008", unreachable=True)
    assert route(stopped, blocked, PHONE).address == PHONE.address


def test_a_number_that_takes_no_notices_gets_replies_only() -> None:
    quiet = ContactOption("sms", PHONE.address, notify=False)
    assert route(quiet).channel is None
    assert route(quiet, kind=REPLY).channel == "sms"


def test_a_channel_the_deployment_does_not_deliver_is_skipped() -> None:
    assert route(PHONE, deliverable=frozenset({"telegram"})).channel is None
    assert route(ContactOption("email", "a@example.com"),
                 deliverable=frozenset({"sms", "email"})).channel is None  # fmt: skip


def test_with_nothing_left_the_message_is_undeliverable_with_the_reason() -> None:
    assert route(TELEGRAM) == Route(
        None, "", "undeliverable: telegram not configured; no other verified channel"
    )


def test_a_one_time_code_never_goes_elsewhere() -> None:
    dead = route(PHONE, kind=REPLY, secret=True)
    assert dead.channel is None and "one-time code" in dead.detail


def test_the_message_never_goes_back_to_its_own_channel() -> None:
    other_chat = ContactOption("telegram", "701")
    assert route(other_chat, deliverable=frozenset({"sms", "telegram"})).channel is None
