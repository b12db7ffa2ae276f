"""The two documented demo customers (李娜 and Emma Brown), their numbers for the README and the
tests, and `ensure_demo_customers`, which creates whichever of them is missing."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.customers.model import Language
from billing_core.seed.model import (
    DEFAULT_TIMEZONE,
    US_TIMEZONE,
    DemoCustomer,
    ReadingBookRow,
    SeedConfig,
)
from billing_core.seed.population import SeedPopulation
from billing_core.seed.store import RowWriter, next_ids, reset_sequences, seed_table

DEMO_BOOK_CODE = "DEMO"
DEMO_READING_DAY = 10
DEMO_MONTHS = 13

LI_NA = DemoCustomer(
    name="李娜",
    account_number="1000000001",
    phone="+8613800000001",
    language=Language.zh_cn,
    tariff_code="beijing-residential",
    timezone=None,  # the utility's time zone (Asia/Shanghai by default)
    tou=False,
    region="beijing",
    service_address="北京市朝阳区建设路88号3栋2单元1201室",
    reading_day=DEMO_READING_DAY,
    household_size=3,
    monthly_kwh=180,
)
EMMA_BROWN = DemoCustomer(
    name="Emma Brown",
    account_number="1000000002",
    phone="+12025550142",
    language=Language.en,
    tariff_code="us-example-tiered-tou",
    timezone=US_TIMEZONE,
    tou=True,
    region="us",
    service_address="1420 Maple St NW, Apt 5, Washington, DC 20009",
    reading_day=DEMO_READING_DAY,
    household_size=2,
    monthly_kwh=720,
)
DEMO_CUSTOMERS = (LI_NA, EMMA_BROWN)


def stored_demo_numbers(session: Session) -> set[str]:
    """The account numbers of the demo customers this database holds."""
    numbers = [demo.account_number for demo in DEMO_CUSTOMERS]
    account = seed_table("account")
    return set(
        session.execute(select(account.c.number).where(account.c.number.in_(numbers))).scalars()
    )


def ensure_demo_customers(
    *,
    session: Session,
    clock: Clock,
    months: int = DEMO_MONTHS,
    until: date | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> list[DemoCustomer]:
    """Create each demo customer whose account number is not stored yet, with a verified phone,
    a meter and `months` months of clean readings up to `until` (default: today in
    `timezone`). Returns those created; running it again creates nothing."""
    session.flush()
    connection = session.connection()
    stored = stored_demo_numbers(session)
    missing = [demo for demo in DEMO_CUSTOMERS if demo.account_number not in stored]
    if not missing:
        return []

    if until is None:
        until = clock.now().astimezone(ZoneInfo(timezone)).date()
    ids = next_ids(connection)
    writer = RowWriter(connection)
    book = seed_table("reading_book")
    book_id = connection.execute(
        select(book.c.id).where(book.c.code == DEMO_BOOK_CODE)
    ).scalar_one_or_none()
    if book_id is None:
        book_id = ids["reading_book"]
        ids["reading_book"] += 1
        writer.add(
            ReadingBookRow(
                id=book_id,
                code=DEMO_BOOK_CODE,
                name=f"演示抄表段 demo book（例日 {DEMO_READING_DAY} 日）",
                reading_day=DEMO_READING_DAY,
            )
        )
    population = SeedPopulation(
        SeedConfig(
            customers=0,
            months=months,
            seed=0,
            until=until,
            timezone=timezone,
            first_ids=ids,
            anomalies=False,
        )
    )
    for demo in missing:
        for row in population.demo_rows(demo, book_id):
            writer.add(row)
    writer.flush()
    reset_sequences(connection)
    return missing
