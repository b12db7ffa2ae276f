"""The outbox row laid out once (outbox.model.outbox_row), and the retry policy's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing_core.outbox.model import CANCELLED, OUTBOX_COLUMNS, PENDING, REPLY, outbox_row
from billing_core.outbox.retry import RetryPolicy
from billing_core.outbox.service import OUTBOX

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def row(**fields: object) -> dict[str, object]:
    values: dict[str, object] = {
        "dedupe_key": "k", "channel": "sms", "recipient": "+8613000000001", "template": "t",
        "language": "en", "body": "hello", "segments": 1, "kind": REPLY, "purpose": "p",
        "not_before": LATER, "created_at": NOW, **fields,
    }  # fmt: skip
    return dict(zip(OUTBOX_COLUMNS, outbox_row(**values), strict=True))  # type: ignore[arg-type]


def test_every_value_has_its_column_in_the_table() -> None:
    assert set(OUTBOX_COLUMNS) <= set(OUTBOX.c.keys())
    assert len(set(OUTBOX_COLUMNS)) == len(OUTBOX_COLUMNS)


def test_a_message_to_send_is_pending_with_no_attempt_and_no_reason() -> None:
    values = row(account_id=7, customer_id=3, priority=2)

    assert values == {
        "dedupe_key": "k", "account_id": 7, "customer_id": 3, "channel": "sms",
        "recipient": "+8613000000001", "template": "t", "language": "en", "body": "hello",
        "segments": 1, "kind": REPLY, "purpose": "p", "priority": 2, "not_before": LATER,
        "status": PENDING, "attempts": 0, "error_detail": "", "cancelled_reason": "",
        "created_at": NOW, "payload": None,
    }  # fmt: skip


def test_a_richer_channel_s_payload_is_carried_as_given() -> None:
    assert row(payload='{"buttons": []}')["payload"] == '{"buttons": []}'


def test_a_message_recorded_as_not_sent_keeps_its_status_and_a_reason_that_fits() -> None:
    values = row(status=CANCELLED, reason="x" * 300)

    assert values["status"] == CANCELLED
    assert values["cancelled_reason"] == "x" * 200  # the column's length
    assert values["account_id"] is None and values["priority"] == 5


def test_the_retry_policy_gives_up_after_its_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)

    assert [policy.gives_up(attempts) for attempts in (1, 2, 3, 4)] == [False, False, True, True]
