"""The bill run on hand-made accounts, on SQLite and PostgreSQL: two-rate TOU meters whose
registers drift, TOU meters replaced in the period, a replaced meter whose final reading falls
outside the reading window, and a tariff change inside the period."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, event, select
from sqlmodel import Session

from billing_core.bills.model import ReviewRule
from billing_core.bills.run import BillRunSummary, run_bills
from billing_core.bills.tables import Bill, BillLine, ReviewItem
from billing_core.customers.tables import Account
from billing_core.db import session_scope
from billing_core.db.columns import table_of
from billing_core.readings.tables import Meter
from tests.factories import (
    make_account,
    make_business_change,
    make_customer,
    make_meter,
    make_reading,
    make_tariff_assignment,
)
from tests.integration.bills.helpers import CLOCK, TARIFFS, THRESHOLDS, TZ

D = Decimal
RUN_DATE = date(2026, 11, 5)  # reading day 5: the period is 10-05 to 11-04
AT = datetime(2026, 9, 1, tzinfo=UTC)


def at(day: date) -> datetime:
    """10:00 in Shanghai on that day."""
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


def run(engine: Engine) -> BillRunSummary:
    return run_bills(
        engine=engine,
        clock=CLOCK,
        run_date=RUN_DATE,
        tz=TZ,
        tariffs=TARIFFS,
        thresholds=THRESHOLDS,
    )


@dataclass
class Stored:
    status: str
    kwh: Decimal
    total: Decimal
    lines: list[tuple[str, Decimal, Decimal]]  # (component, quantity, amount)
    rules: set[str]


def bill_of(engine: Engine, account: Account) -> Stored:
    bill, line, review = table_of(Bill), table_of(BillLine), table_of(ReviewItem)
    with engine.connect() as connection:
        (row,) = connection.execute(select(bill).where(bill.c.account_id == account.id)).all()
        lines = connection.execute(
            select(line.c.component, line.c.quantity, line.c.amount)
            .where(line.c.bill_id == row.id)
            .order_by(line.c.position)
        ).all()
        rules = connection.execute(select(review.c.rule).where(review.c.bill_id == row.id))
        return Stored(
            status=row.status,
            kwh=row.kwh,
            total=row.total,
            lines=[(c, q, a) for c, q, a in lines],
            rules=set(rules.scalars()),
        )


def account_on(session: Session, tariff_code: str, **fields: Any) -> Account:
    customer = make_customer(session, at=AT, **fields)
    account = make_account(session, customer=customer)
    make_tariff_assignment(session, account=account, tariff_code=tariff_code)
    return account


def tou_reading(session: Session, meter: Meter, day: date, *registers: str) -> None:
    total, peak, flat, valley = (D(value) for value in registers)
    make_reading(
        session,
        meter=meter,
        read_at=at(day),
        total=total,
        peak=peak,
        flat=flat,
        valley=valley,
        source="smart",
    )


def replaced(
    session: Session,
    account: Account,
    *,
    on: date,
    old_readings: list[tuple[date, tuple[str, ...]]],
    new_initial: tuple[str, ...],
    new_current: tuple[str, ...],
    tou: bool,
) -> tuple[Meter, Meter]:
    """An old meter removed on `on` with these readings, and the new meter installed that day
    from `new_initial`, read on the run date."""
    old = make_meter(session, account=account, tou=tou, removed_on=on)
    initial = [D(value) for value in new_initial]
    registers = (
        {"initial_peak": initial[1], "initial_flat": initial[2], "initial_valley": initial[3]}
        if tou
        else {}
    )
    new = make_meter(
        session, account=account, tou=tou, installed_on=on, initial_total=initial[0], **registers
    )
    for day, values in old_readings:
        if tou:
            tou_reading(session, old, day, *values)
        else:
            make_reading(session, meter=old, read_at=at(day), total=D(values[0]))
    if tou:
        tou_reading(session, new, RUN_DATE, *new_current)
    else:
        make_reading(session, meter=new, read_at=at(RUN_DATE), total=D(new_current[0]))
    make_business_change(
        session, account=account, kind="meter_replacement", effective_on=on, at=at(on)
    )
    return old, new


# -- 1. two-rate (peak/valley) meters --------------------------------------------------------


def test_a_two_rate_meter_with_a_lagging_register_is_held_for_review(fresh_engine: Engine) -> None:
    with session_scope(fresh_engine) as session:
        account = account_on(session, "zhejiang-residential-tou")
        meter = make_meter(session, account=account, tou=True)
        tou_reading(session, meter, date(2026, 10, 5), "1000", "400", "0", "600")
        # 200 kWh on the total; the peak register read 60 where 80 were used
        tou_reading(session, meter, RUN_DATE, "1200", "460", "0", "720")

    summary = run(fresh_engine)

    assert summary.failed == [] and summary.in_review == 1
    bill = bill_of(fresh_engine, account)
    assert bill.status == "in_review"
    assert bill.rules == {ReviewRule.TOU_MISMATCH}
    # 谷 = 总 − 峰: the valley takes the rest of the total
    assert bill.lines == [("Energy peak", D(60), D("34.08")), ("Energy valley", D(140), D("40.32"))]
    assert bill.kwh == D(200) and bill.total == D("74.40")


# -- 2. and 3. meter replacements ------------------------------------------------------------


def test_a_replaced_tou_meter_is_billed_register_by_register(fresh_engine: Engine) -> None:
    with session_scope(fresh_engine) as session:
        account = account_on(session, "zhejiang-residential-tou")
        replaced(
            session,
            account,
            on=date(2026, 11, 3),
            old_readings=[
                (date(2026, 10, 5), ("1000", "400", "0", "600")),
                (date(2026, 11, 3), ("1150", "460", "0", "690")),
            ],
            new_initial=("20", "5", "0", "15"),
            new_current=("70", "25", "0", "45"),
            tou=True,
        )

    summary = run(fresh_engine)

    assert summary.failed == [] and summary.in_review == 1
    bill = bill_of(fresh_engine, account)
    # peak (460 − 400) + (25 − 5) = 80; valley (690 − 600) + (45 − 15) = 120
    assert bill.lines == [("Energy peak", D(80), D("45.44")), ("Energy valley", D(120), D("34.56"))]
    assert bill.kwh == D(200) and bill.total == D("80.00")
    assert {ReviewRule.METER_REPLACED, ReviewRule.REVERSE_READING} <= bill.rules


def test_a_replaced_meters_final_reading_counts_wherever_it_falls(fresh_engine: Engine) -> None:
    with session_scope(fresh_engine) as session:
        early = account_on(session, "beijing-residential")
        # removed on 10-20, far outside the 4 days before the reading day
        replaced(
            session,
            early,
            on=date(2026, 10, 20),
            old_readings=[
                (date(2026, 10, 5), ("8000",)),
                (date(2026, 10, 12), ("8020",)),
                (date(2026, 10, 20), ("8040.5",)),
            ],
            new_initial=("2.5",),
            new_current=("212.5",),
            tou=False,
        )
        unread = account_on(session, "beijing-residential")
        old, _new = replaced(
            session,
            unread,
            on=date(2026, 10, 20),
            old_readings=[(date(2026, 10, 5), ("5000",))],  # no final reading
            new_initial=("0",),
            new_current=("100",),
            tou=False,
        )

    summary = run(fresh_engine)

    assert summary.failed == []
    bill = bill_of(fresh_engine, early)
    assert bill.kwh == D("250.5")  # (8040.5 − 8000) + (212.5 − 2.5)
    assert {ReviewRule.METER_REPLACED, ReviewRule.REVERSE_READING} <= bill.rules
    assert summary.missed == [
        (
            unread.number,
            f"no final reading of replaced meter {old.serial} on or before 2026-10-20",
        )
    ]


@contextmanager
def selects_counted(engine: Engine) -> Iterator[Callable[[], int]]:
    count = 0

    def counted(*args: Any) -> None:
        nonlocal count
        if args[2].lstrip().upper().startswith("SELECT"):
            count += 1

    event.listen(engine, "before_cursor_execute", counted)
    try:
        yield lambda: count
    finally:
        event.remove(engine, "before_cursor_execute", counted)


def test_final_readings_take_one_query_however_many_meters_were_replaced(
    fresh_engine: Engine,
) -> None:
    def replacements(count: int, reading_day: int) -> None:
        with session_scope(fresh_engine) as session:
            for _ in range(count):
                customer = make_customer(session, at=AT)
                account = make_account(session, customer=customer, reading_day=reading_day)
                make_tariff_assignment(session, account=account, tariff_code="beijing-residential")
                old = make_meter(session, account=account, removed_on=date(2026, 10, 20))
                new = make_meter(session, account=account, installed_on=date(2026, 10, 20))
                for day, total in (
                    (date(2026, 10, reading_day), "100"),
                    (date(2026, 10, 20), "150"),
                ):
                    make_reading(session, meter=old, read_at=at(day), total=D(total))
                make_reading(
                    session, meter=new, read_at=at(date(2026, 11, reading_day)), total=D(50)
                )

    replacements(1, reading_day=5)
    replacements(6, reading_day=6)
    with selects_counted(fresh_engine) as one:
        first = run(fresh_engine)
    with selects_counted(fresh_engine) as six:
        second = run_bills(
            engine=fresh_engine,
            clock=CLOCK,
            run_date=date(2026, 11, 6),
            tz=TZ,
            tariffs=TARIFFS,
            thresholds=THRESHOLDS,
        )

    assert (first.in_review, second.in_review) == (1, 6)
    assert one() == six()


# -- 4. a tariff change inside the period ------------------------------------------------------


def test_a_tariff_change_inside_the_period_prices_each_part_at_its_tariff(
    fresh_engine: Engine,
) -> None:
    change = date(2026, 10, 15)  # 10 days on the old tariff, 21 on the new one
    with session_scope(fresh_engine) as session:
        account = account_on(session, "zhejiang-residential-tou")
        make_tariff_assignment(
            session, account=account, tariff_code="zhejiang-residential", effective_from=change
        )
        # a change that takes effect on the reading day belongs to the next period
        make_tariff_assignment(
            session,
            account=account,
            tariff_code="zhejiang-residential-tou",
            effective_from=RUN_DATE,
        )
        meter = make_meter(session, account=account, tou=True)
        tou_reading(session, meter, date(2026, 10, 5), "1000", "400", "0", "600")
        tou_reading(session, meter, RUN_DATE, "1200", "480", "0", "720")

    summary = run(fresh_engine)

    assert summary.failed == [] and summary.in_review == 1
    bill = bill_of(fresh_engine, account)
    # 200 kWh × 10/31 = 64.516 on the peak/valley tariff (peak 80 × 10/31 = 25.806), the
    # other 135.484 kWh on the flat one
    assert bill.lines == [
        ("Energy peak", D("25.806"), D("14.66")),
        ("Energy valley", D("38.710"), D("11.15")),
        ("Energy block 1", D("135.484"), D("72.89")),
    ]
    assert bill.total == sum((amount for _c, _q, amount in bill.lines), D(0)) == D("98.70")
    assert bill.kwh == D(200)
    assert bill.rules == {ReviewRule.FIRST_BILL_AFTER_CHANGE}


def test_a_tariff_change_to_a_tariff_with_the_same_lines_names_each_tariff(
    fresh_engine: Engine,
) -> None:
    change = date(2026, 10, 25)
    with session_scope(fresh_engine) as session:
        account = account_on(session, "beijing-residential")
        make_tariff_assignment(
            session, account=account, tariff_code="zhejiang-residential", effective_from=change
        )
        make_business_change(
            session, account=account, kind="tariff_change", effective_on=change, at=at(change)
        )
        meter = make_meter(session, account=account)
        make_reading(session, meter=meter, read_at=at(date(2026, 10, 5)), total=D(1000))
        make_reading(session, meter=meter, read_at=at(RUN_DATE), total=D(1310))

    summary = run(fresh_engine)

    assert summary.failed == []
    bill = bill_of(fresh_engine, account)
    components = [component for component, _q, _a in bill.lines]
    assert components[0].startswith("Energy block 1 (beijing-residential")
    assert components[-1] == "Energy block 1 (zhejiang-residential)"
    assert all(len(component) <= 64 for component in components)
    # 310 kWh × 20/31 = 200 kWh at Beijing's prices, 110 kWh at Zhejiang's
    assert sum((q for c, q, _a in bill.lines if "beijing" in c), D(0)) == D(200)
    assert sum((q for c, q, _a in bill.lines if "zhejiang" in c), D(0)) == D(110)
    assert bill.total == sum((amount for _c, _q, amount in bill.lines), D(0))
    assert ReviewRule.FIRST_BILL_AFTER_CHANGE in bill.rules


# -- 4. registers that rolled over -----------------------------------------------------------


def metered(session: Session, digits: int, *totals: tuple[date, str]) -> Account:
    """A Beijing residential account whose meter has `digits` digits and these readings."""
    account = account_on(session, "beijing-residential")
    meter = make_meter(session, account=account, digits=digits)
    for day, total in totals:
        make_reading(session, meter=meter, read_at=at(day), total=D(total))
    return account


def test_a_bill_over_a_rolled_over_register_is_priced_on_the_wrapped_advance(
    fresh_engine: Engine,
) -> None:
    with session_scope(fresh_engine) as session:
        # 9,800 -> 10,000 (the register's range) -> 200: 400 kWh
        rolled = metered(session, 4, (date(2026, 10, 5), "9800"), (RUN_DATE, "200"))
        plain = metered(session, 6, (date(2026, 10, 5), "1000"), (RUN_DATE, "1400"))

    summary = run(fresh_engine)

    assert summary.failed == []
    bill, twin = bill_of(fresh_engine, rolled), bill_of(fresh_engine, plain)
    assert bill.kwh == twin.kwh == D(400)
    assert bill.lines == twin.lines and bill.total == twin.total > 0
    # priced, but held: a reverse reading is never billed without a person
    assert bill.status == "in_review" and ReviewRule.REVERSE_READING in bill.rules


def test_a_previous_period_over_a_rolled_over_register_is_compared_on_its_wrapped_advance(
    fresh_engine: Engine,
) -> None:
    with session_scope(fresh_engine) as session:
        # the previous period: 9,900 -> 100 on a 4-digit register is 200 kWh, as 1,000 -> 1,200
        rolled = metered(
            session, 4, (date(2026, 9, 5), "9900"), (date(2026, 10, 5), "100"), (RUN_DATE, "900")
        )
        plain = metered(
            session,
            6,
            (date(2026, 9, 5), "1000"),
            (date(2026, 10, 5), "1200"),
            (RUN_DATE, "2000"),
        )

    summary = run(fresh_engine)

    assert summary.failed == []
    bill, twin = bill_of(fresh_engine, rolled), bill_of(fresh_engine, plain)
    # 800 kWh against the previous period's 200: a swing on both, the rollover notwithstanding
    assert bill.kwh == twin.kwh == D(800)
    assert bill.rules == twin.rules == {ReviewRule.USAGE_SWING}
