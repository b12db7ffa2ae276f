"""The dispatcher's per-recipient spacing (Telegram: one message a second per chat): counted
from the end of the previous send, one send in flight per recipient, others unaffected."""

from __future__ import annotations

from scheduler.dispatcher import RecipientSpacing

CHAT = ("telegram", "700")
OTHER = ("telegram", "701")


class FakeTime:
    def __init__(self) -> None:
        self.now = 50.0

    def monotonic(self) -> float:
        return self.now


def test_a_recipient_waits_its_interval_after_the_end_of_the_previous_send() -> None:
    time = FakeTime()
    spacing = RecipientSpacing(monotonic=time.monotonic)
    assert spacing.take(CHAT) == 0.0
    assert spacing.take(CHAT) is None  # in flight
    assert spacing.take(OTHER) == 0.0  # another chat does not wait
    time.now += 0.4  # the request took 0.4 s
    spacing.release(CHAT, 1.0)
    time.now += 0.25
    assert spacing.take(CHAT) == 0.75  # a second from the end of the send, not its start
    time.now += 0.75
    assert spacing.take(CHAT) == 0.0


def test_recipients_long_free_are_forgotten() -> None:
    time = FakeTime()
    spacing = RecipientSpacing(monotonic=time.monotonic)
    for i in range(3000):
        recipient = ("telegram", str(i))
        assert spacing.take(recipient) == 0.0
        spacing.release(recipient, 1.0)
        time.now += 0.01
    assert len(spacing._free_at) < 2100  # pruned as it grew; the last second's are kept
    wait = spacing.take(("telegram", "2999"))
    assert wait is not None and wait > 0
