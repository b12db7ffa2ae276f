"""Every dedupe key, and every outbox purpose, built in one place: a row written twice with the
same key is written once, so the writers and the readers of a key must agree on its text."""

from __future__ import annotations

from datetime import date, datetime

# --- outbox messages: the dedupe key, and the purpose a later event cancels them by ----------

BILL_NOTICE = "bill_notice:bill:"  # + the bill id (the notice job matches on it in SQL)
DUE_REMINDER = "due_reminder:bill:"  # + the bill id


def bill_notice_key(bill_id: int) -> str:
    return f"{BILL_NOTICE}{bill_id}"


def due_reminder_key(bill_id: int) -> str:
    return f"{DUE_REMINDER}{bill_id}"


def notice_purpose(bill_id: int) -> str:
    return f"notice:bill:{bill_id}"


def reminder_purpose(bill_id: int) -> str:
    """What a payment of the bill cancels the reminders about it by."""
    return f"reminder:bill:{bill_id}"


def settled_bill_purposes(bill_ids: list[int]) -> list[str]:
    """The purposes of every message about these bills that a payment settling them cancels
    while it waits: the bill notice and the due-date reminder (the arrears ladder's messages
    go by their case's purpose)."""
    return [p for b in bill_ids for p in (notice_purpose(b), reminder_purpose(b))]


def receipt_key(payment_id: int) -> str:
    """A payment's receipt message (its dedupe key and its purpose)."""
    return f"receipt:payment:{payment_id}"


def refund_key(refund_id: int) -> str:
    """A refund's ledger entry, and the message telling the customer (key and purpose)."""
    return f"refund:{refund_id}"


def verification_key(verification_id: int) -> str:
    """The message carrying a verification code (its dedupe key and its purpose)."""
    return f"verification:{verification_id}"


def agent_message_key(message_id: int) -> str:
    """A message an agent wrote in a conversation."""
    return f"conversation:message:{message_id}"


def conversation_reply_key(channel: str, provider_message_id: str) -> str:
    """The bot's reply to a customer's message, sent through the outbox (once per message)."""
    return f"conversation:reply:{channel}:{provider_message_id}"


def queue_released_key(conversation_id: int, queued_at: datetime) -> str:
    """The message telling a customer that nobody took their queued conversation in time
    (once per time it was queued)."""
    return f"conversation:released:{conversation_id}:{int(queued_at.timestamp())}"


def conversation_purpose(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def arrears_message_key(case_id: int, step: str) -> str:
    """A ladder step's message to the customer: once per case and step."""
    return f"arrears:{case_id}:{step}"


def arrears_purpose(case_id: int) -> str:
    """What a stop of the ladder (a payment, an arrangement, a dispute) cancels the case's
    pending messages by."""
    return f"arrears:case:{case_id}"


def arrears_step_key(case_id: int, step: str, reason: str, taken: bool, day: date | None) -> str:
    """A decision recorded on an arrears case, its task and its order: a ladder step once per
    case; a stop, a skip or a reconnection once per case, reason and day."""
    when = f":{day.isoformat()}" if day is not None else ""
    return f"{case_id}:{step}:{'taken' if taken else 'skipped'}:{reason}{when}"


def care_flag_task_key(flag_id: int, order_id: int) -> str:
    """The review task a care flag raises about one of the customer's disconnection orders."""
    return f"arrears:care:{flag_id}:order:{order_id}"


def bench_key(number: int) -> str:
    """A benchmark's message (`wattdesk bench dispatch`)."""
    return f"bench:{number}"


# --- ledger entries ---------------------------------------------------------------------------

CHARGE = "charge:bill:"  # + the bill id (the backfill matches on it in SQL)


def charge_key(bill_id: int) -> str:
    return f"{CHARGE}{bill_id}"


def reversal_key(bill_id: int) -> str:
    return f"reversal:bill:{bill_id}"


def payment_key(payment_id: int) -> str:
    return f"payment:{payment_id}"


def late_fee_key(bill_id: int, on: date) -> str:
    return f"late_fee:{bill_id}:{on.isoformat()}"


def late_fee_waiver_key(fee_id: int, waiver: int) -> str:
    """The `waiver`-th waiver of a late fee (a fee reopened later may be waived again)."""
    return f"late_fee_waiver:{fee_id}:{waiver}"


# --- domain events ------------------------------------------------------------------------------


def event_key(kind: str, subject: object) -> str:
    """One event of this kind about its subject (a bill, a payment, a checkout session)."""
    return f"{kind}:{subject}"


def reading_day_notice_key(plan_id: int, customer_id: int, old_day: int, new_day: int) -> str:
    """A reading plan's notice to a customer about the accounts moving from one day to another
    (one per customer and change); its purpose is `reading_plan_purpose`."""
    return f"reading_day:plan:{plan_id}:customer:{customer_id}:{old_day}-{new_day}"


def reading_plan_purpose(plan_id: int) -> str:
    return f"reading_plan:{plan_id}"


# --- group notices (appended: docs/messages.md) ---------------------------------------------


def group_notice_key(group_id: int, first_bill_id: int) -> str:
    """A group's consolidated bill notice: once per group and the bills it lists, named by the
    first of them (each listed bill's own notice row says it went in this one)."""
    return f"group_notice:group:{group_id}:bill:{first_bill_id}"


def group_notice_purpose(group_id: int) -> str:
    """A group notice's purpose: a payment of one account does not cancel it (it lists all)."""
    return f"group_notice:group:{group_id}"
