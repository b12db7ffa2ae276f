"""Charges for issued bills that have none yet (bills issued before the bill run posted its
own charges). Idempotent: a bill already charged is never charged again."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, exists, literal, select
from sqlmodel import Session, col

from billing_core.bills.charges import post_bill_charges
from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.dedupe_keys import CHARGE
from billing_core.ledger.service import LEDGER


def post_missing_charges(*, session: Session, clock: Clock, tz: ZoneInfo) -> int:
    """Post the charge of every issued bill without a `charge:bill:{id}` entry, dated the
    day it was issued (local); returns how many were posted."""
    charged = exists().where(LEDGER.c.dedupe_key == literal(CHARGE) + cast(col(Bill.id), String))
    rows = session.execute(
        select(col(Bill.id), col(Bill.account_id), col(Bill.total), col(Bill.currency),
               col(Bill.issued_at))
        .where(col(Bill.status) == "issued", ~charged)
        .order_by(col(Bill.id))
    ).all()  # fmt: skip
    now = clock.now()
    post_bill_charges(
        session.connection(),
        bills=[
            (bill_id, account_id, total, currency, (issued_at or now).astimezone(tz).date())
            for bill_id, account_id, total, currency, issued_at in rows
        ],
        now=now,
        actor="backfill",
    )
    return len(rows)
