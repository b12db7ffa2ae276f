"""Opt-outs: an address that said STOP (or that the provider reports opted out) gets no
automated message until it says START. The conversation layer and the dispatcher record them."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from billing_core.clock import Clock
from billing_core.customers.tables import Contact
from billing_core.outbox.tables import OptOut


def record_opt_out(
    *, session: Session, clock: Clock, channel: str, address: str, source: str
) -> bool:
    """The address says STOP (or the provider reports it opted out): an OptOut row, and every
    contact with this address marked opted out. False when it had opted out already."""
    now = clock.now()
    created = False
    if not opted_out(session, channel, address):
        try:
            with session.begin_nested():
                session.add(OptOut(channel=channel, address=address, source=source[:32],
                                   created_at=now))  # fmt: skip
                session.flush()
            created = True
        except IntegrityError:  # a concurrent STOP got there first
            created = False
    session.execute(
        update(Contact)
        .where(col(Contact.channel) == channel, col(Contact.address) == address,
               col(Contact.opted_out).is_(False))
        .values(opted_out=True, opted_out_at=now)
    )  # fmt: skip
    return created


def record_opt_in(*, session: Session, channel: str, address: str) -> bool:
    """The address says START: its OptOut row goes and its contacts may be sent to again.
    False when it had not opted out."""
    removed = session.execute(
        delete(OptOut).where(col(OptOut.channel) == channel, col(OptOut.address) == address)
    )
    session.execute(
        update(Contact)
        .where(col(Contact.channel) == channel, col(Contact.address) == address,
               col(Contact.opted_out).is_(True))
        .values(opted_out=False, opted_out_at=None)
    )  # fmt: skip
    return bool(removed.rowcount)  # type: ignore[attr-defined]


def opted_out(session: Session, channel: str, address: str) -> bool:
    """Whether automated messages to this address must not be sent."""
    found = session.scalars(
        select(col(OptOut.id)).where(col(OptOut.channel) == channel, col(OptOut.address) == address)
    ).first()
    return found is not None
