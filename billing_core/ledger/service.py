"""The ledger's own read: an account's entries, oldest first. Bills post and take back their
charges (`bills.charges`), payments their entries (`payments.service`)."""

from __future__ import annotations

from sqlalchemy import BindParameter, bindparam, select
from sqlmodel import Session

from billing_core.db.columns import table_of
from billing_core.ledger.model import Entry
from billing_core.ledger.tables import LedgerEntry

LEDGER = table_of(LedgerEntry)
ENTRY_COLUMNS = (LEDGER.c.id, LEDGER.c.kind, LEDGER.c.amount, LEDGER.c.effective_on,
                 LEDGER.c.bill_id, LEDGER.c.related_entry_id)  # fmt: skip
_ACCOUNT_ID: BindParameter[int] = bindparam("account_id")
_LEDGER_ENTRIES = (
    select(*ENTRY_COLUMNS).where(LEDGER.c.account_id == _ACCOUNT_ID).order_by(LEDGER.c.id)
)


def ledger_entries(session: Session, account_id: int) -> list[Entry]:
    rows = session.execute(_LEDGER_ENTRIES, {"account_id": account_id}).all()
    return [Entry(*row) for row in rows]
