"""The seed generator, without a database: determinism, registers, reading days, phones."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_core.errors import InvalidInput
from billing_core.seed.demo import EMMA_BROWN, LI_NA
from billing_core.seed.model import (
    FIRST_SYNTHETIC_ACCOUNT,
    NEW_CONNECTION_MIN_DAYS,
    NEW_METER_START_MAX,
    REPLACEMENT_WINDOW_DAYS,
    TABLE_ORDER,
    TARIFF_CHANGES,
    AccountRow,
    Anomaly,
    BusinessChangeRow,
    ContactRow,
    CustomerGroupRow,
    CustomerRow,
    MeterRow,
    ReadingBookRow,
    ReadingRow,
    Row,
    SeedConfig,
    SensitivityRow,
    TariffAssignmentRow,
    is_fictional_phone,
    is_late_payer,
    reading_dates,
    split_tou,
)
from billing_core.seed.population import SeedPopulation, generate_population
from billing_core.seed.state import _Quota

T = TypeVar("T")
UNTIL = date(2026, 11, 26)
MONTHS = 13


def config(customers: int = 2000, seed: int = 7, **kwargs: Any) -> SeedConfig:
    return SeedConfig(customers=customers, months=MONTHS, seed=seed, until=UNTIL, **kwargs)


@cache
def population(customers: int = 5000, seed: int = 7) -> tuple[SeedPopulation, tuple[Row, ...]]:
    generator = SeedPopulation(config(customers, seed))
    return generator, tuple(generator.rows())


def rows_of(kind: type[T], customers: int = 5000) -> list[T]:
    return [row for row in population(customers)[1] if isinstance(row, kind)]


def readings_by_meter() -> dict[int, list[ReadingRow]]:
    by_meter: dict[int, list[ReadingRow]] = defaultdict(list)
    for reading in rows_of(ReadingRow):
        by_meter[reading.meter_id].append(reading)
    return by_meter


def test_same_seed_gives_identical_rows_and_another_seed_does_not() -> None:
    first = list(generate_population(config(300, seed=11)))
    again = list(generate_population(config(300, seed=11)))
    other = list(generate_population(config(300, seed=12)))
    assert first == again
    assert first != other


@settings(max_examples=25, deadline=None)
@given(customers=st.integers(min_value=0, max_value=40), seed=st.integers(0, 10_000))
def test_exactly_the_requested_number_of_customers(customers: int, seed: int) -> None:
    rows = list(generate_population(config(customers, seed=seed)))
    assert sum(isinstance(row, CustomerRow) for row in rows) == customers


def test_ids_are_unique_and_start_at_first_ids() -> None:
    first_ids = {"customer": 3, "account": 3, "meter": 3, "meter_reading": 40}
    rows = list(generate_population(config(200, first_ids=first_ids)))
    by_table: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by_table[row.TABLE].append(row.id)
    for table in TABLE_ORDER:
        ids = by_table[table]
        if ids:
            assert len(set(ids)) == len(ids), table
            assert min(ids) == first_ids.get(table, 1), table


def test_parents_come_before_the_rows_that_refer_to_them() -> None:
    seen: dict[str, set[int]] = defaultdict(set)
    for row in population()[1]:
        if isinstance(row, CustomerRow) and row.group_id is not None:
            assert row.group_id in seen["customer_group"]
        if isinstance(row, AccountRow):
            assert row.customer_id in seen["customer"]
            assert row.reading_book_id in seen["reading_book"]
        if isinstance(row, TariffAssignmentRow | BusinessChangeRow):
            assert row.account_id in seen["account"]
        if isinstance(row, MeterRow):
            assert row.account_id in seen["account"]
            assert row.parent_meter_id is None or row.parent_meter_id in seen["meter"]
        if isinstance(row, ReadingRow):
            assert row.meter_id in seen["meter"]
        seen[row.TABLE].add(row.id)


def test_account_numbers_are_synthetic_and_unique() -> None:
    numbers = [int(account.number) for account in rows_of(AccountRow)]
    assert len(set(numbers)) == len(numbers)
    assert min(numbers) == FIRST_SYNTHETIC_ACCOUNT
    assert {LI_NA.account_number, EMMA_BROWN.account_number}.isdisjoint(map(str, numbers))


def test_population_mix_has_groups_businesses_us_households_and_sensitive_customers() -> None:
    customers = rows_of(CustomerRow)
    kinds = Counter(customer.kind for customer in customers)
    assert kinds["residential"] > 0.85 * len(customers)
    assert kinds["non_residential"] > 0.03 * len(customers)
    group_sizes = Counter(c.group_id for c in customers if c.group_id is not None)
    assert len(group_sizes) == len(rows_of(CustomerGroupRow)) > 0
    assert all(size >= 2 for size in group_sizes.values())
    assert any(c.timezone == "America/New_York" and c.language == "en" for c in customers)
    sensitive = rows_of(SensitivityRow)
    assert 0.003 * len(customers) < len(sensitive) < 0.02 * len(customers)


def test_accounts_take_their_books_reading_day() -> None:
    by_book = {book.id: book for book in rows_of(ReadingBookRow)}
    accounts = rows_of(AccountRow)
    assert all(a.reading_day == by_book[a.reading_book_id or 0].reading_day for a in accounts)
    assert len({a.reading_book_id for a in accounts}) == len(by_book)


def test_books_hold_about_a_thousand_accounts_and_spread_over_days_1_to_28() -> None:
    books = []
    for row in SeedPopulation(config(60_000)).rows():  # lazy: the books come first
        if not isinstance(row, ReadingBookRow):
            break
        books.append(row)
    assert len(books) == 62
    assert {book.reading_day for book in books} == set(range(1, 29))


def test_readings_follow_each_accounts_reading_day_in_local_working_hours() -> None:
    _, rows = population()
    accounts = {a.id: a for a in rows if isinstance(a, AccountRow)}
    customers = {c.id: c for c in rows if isinstance(c, CustomerRow)}
    meters = {m.id: m for m in rows if isinstance(m, MeterRow)}
    for meter_id, readings in readings_by_meter().items():
        account = accounts[meters[meter_id].account_id]
        zone = ZoneInfo(customers[account.customer_id].timezone or "Asia/Shanghai")
        expected = reading_dates(account.reading_day, UNTIL, MONTHS)
        local = [reading.read_at.astimezone(zone) for reading in readings]
        days = [moment.date() for moment in local]
        assert all(reading.read_at.tzinfo is UTC for reading in readings)
        assert all(time(9, 0) <= moment.time() < time(17, 0) for moment in local)
        assert days == sorted(set(days))
        meter = meters[meter_id]
        if meter.removed_on is not None:  # replaced: the final reading is on the day it went
            assert days[-1] == meter.removed_on
            days = days[:-1]
        assert set(days) <= set(expected)
        if meter.installed_on > expected[0]:  # a new meter: first read on the reading day
            assert days == [expected[-1]]
        else:
            assert days[0] == expected[0]  # the opening reading is never missing


def test_tou_registers_add_up_to_the_total_except_where_one_lags() -> None:
    meters = {m.id: m for m in rows_of(MeterRow)}
    tou_readings = drifts = 0
    for meter_id, readings in readings_by_meter().items():
        meter = meters[meter_id]
        if not meter.tou:
            assert all(r.peak is r.flat is r.valley is None for r in readings)
            continue
        gap = Decimal(0)  # total − (peak + flat + valley): grows only where a register lags
        for reading in readings:
            tou_readings += 1
            assert reading.peak is not None and reading.flat is not None
            assert reading.valley is not None
            now = reading.total - reading.peak - reading.flat - reading.valley
            if reading.anomaly == Anomaly.tou_drift:
                drifts += 1
                assert (now - gap) * meter.multiplier >= 3  # TOU_MISMATCH's 3 kWh
            else:
                assert now == gap
            gap = now
    assert tou_readings > 0
    assert drifts == population()[0].anomalies[Anomaly.tou_drift] > 0


@given(
    total=st.integers(0, 10**12),
    peak=st.floats(0.25, 0.5),
    valley=st.floats(0.15, 0.4),
)
def test_split_tou_adds_up_and_stays_non_negative(total: int, peak: float, valley: float) -> None:
    parts = split_tou(total, peak, valley)
    assert sum(parts) == total
    assert min(parts) >= 0


def test_registers_rise_except_planted_reverse_readings_and_rollovers() -> None:
    meters = {m.id: m for m in rows_of(MeterRow)}
    seen: Counter[str] = Counter()
    for meter_id, readings in readings_by_meter().items():
        meter = meters[meter_id]
        cap = Decimal(10) ** meter.digits
        for before, after in itertools.pairwise(readings):
            assert Decimal(0) <= after.total < cap
            if after.total < before.total:
                assert after.anomaly in {Anomaly.reverse_reading, Anomaly.rollover}
                seen[after.anomaly] += 1
            else:
                assert after.anomaly not in {Anomaly.reverse_reading, Anomaly.rollover}
    assert seen[Anomaly.reverse_reading] > 0
    assert seen[Anomaly.rollover] > 0


def test_a_share_of_meters_roll_over_past_their_digits() -> None:
    meters = {m.id: m for m in rows_of(MeterRow)}
    rolled = {r.meter_id for r in rows_of(ReadingRow) if r.anomaly == Anomaly.rollover}
    assert rolled
    assert all(not meters[meter_id].tou for meter_id in rolled)
    assert len(rolled) < 0.02 * len(meters)


def test_anomalies_are_one_to_three_percent_of_readings() -> None:
    generator, _ = population()
    readings = len(rows_of(ReadingRow))
    planted = sum(count for kind, count in generator.anomalies.items() if kind != Anomaly.rollover)
    assert 0.01 * readings < planted < 0.03 * readings
    estimated = [r for r in rows_of(ReadingRow) if r.estimated]
    assert estimated
    assert all(r.source == "estimated" and r.anomaly == Anomaly.estimated for r in estimated)
    assert all(r.source != "estimated" for r in rows_of(ReadingRow) if not r.estimated)
    for kind in Anomaly:
        assert generator.anomalies[kind] > 0, kind


def test_missing_readings_leave_no_row() -> None:
    generator, _ = population()
    meters = rows_of(MeterRow)
    # A new meter (a new connection, or a replacement's) has one reading, not MONTHS + 1.
    new_meters = generator.anomalies[Anomaly.new_connection]
    new_meters += generator.anomalies[Anomaly.meter_replacement]
    assert (
        len(rows_of(ReadingRow))
        == len(meters) * (MONTHS + 1)
        - generator.anomalies[Anomaly.missing_reading]
        - new_meters * MONTHS
    )


def test_child_meters_use_less_than_their_parent_except_planted_periods() -> None:
    meters = {m.id: m for m in rows_of(MeterRow)}
    by_meter = readings_by_meter()
    children: dict[int, list[int]] = defaultdict(list)
    for meter in meters.values():
        if meter.parent_meter_id is not None:
            children[meter.parent_meter_id].append(meter.id)
    assert children
    planted = 0

    def usage(meter_id: int) -> list[Decimal]:
        totals = [reading.total for reading in by_meter[meter_id]]
        multiplier = meters[meter_id].multiplier
        return [(after - before) * multiplier for before, after in itertools.pairwise(totals)]

    for parent_id, child_ids in children.items():
        parent_usage = usage(parent_id)
        child_usage = [sum(period) for period in zip(*(usage(c) for c in child_ids), strict=True)]
        tags = [reading.anomaly for reading in by_meter[parent_id][1:]]
        for parent, child, tag in zip(parent_usage, child_usage, tags, strict=True):
            if tag == Anomaly.child_exceeds_parent:
                planted += 1
                assert child > parent
            else:
                assert child < parent
    assert planted == population()[0].anomalies[Anomaly.child_exceeds_parent]


def test_quantities_are_decimals_with_at_most_two_places_and_times_are_aware() -> None:
    for row in population(300)[1]:
        for value in row._asdict().values() if isinstance(row, MeterRow) else vars(row).values():
            assert not isinstance(value, float)
            if isinstance(value, Decimal):
                assert value == value.quantize(Decimal("0.01"))
            if isinstance(value, datetime):
                assert value.tzinfo is not None


def test_reactive_register_only_on_non_residential_meters() -> None:
    _, rows = population()
    kinds = {c.id: c.kind for c in rows if isinstance(c, CustomerRow)}
    account_kind = {a.id: kinds[a.customer_id] for a in rows if isinstance(a, AccountRow)}
    meter_kind = {m.id: account_kind[m.account_id] for m in rows if isinstance(m, MeterRow)}
    for reading in rows_of(ReadingRow):
        if meter_kind[reading.meter_id] == "residential":
            assert reading.reactive is None
    assert any(reading.reactive is not None for reading in rows_of(ReadingRow))


def test_contacts_are_valid_fictional_phones_telegram_ids_and_example_mail() -> None:
    contacts = rows_of(ContactRow)
    channels = Counter(contact.channel for contact in contacts)
    assert channels["sms"] and channels["telegram"] and channels["email"]
    for contact in contacts:
        if contact.channel == "sms":
            parsed = phonenumbers.parse(contact.address)
            assert phonenumbers.is_valid_number(parsed)
            assert contact.address == phonenumbers.format_number(
                parsed, phonenumbers.PhoneNumberFormat.E164
            )
            assert is_fictional_phone(contact.address)
            assert contact.address not in {LI_NA.phone, EMMA_BROWN.phone}
        elif contact.channel == "telegram":
            assert contact.address.isdigit()
        else:
            assert contact.address.rsplit("@", 1)[1] in {"example.com", "example.net"}
        assert (contact.verified_at is not None) == contact.verified
        assert (contact.opted_out_at is not None) == contact.opted_out


def test_reading_dates_end_on_or_before_until() -> None:
    assert reading_dates(26, date(2026, 11, 26), 2) == [
        date(2026, 9, 26),
        date(2026, 10, 26),
        date(2026, 11, 26),
    ]
    assert reading_dates(27, date(2026, 1, 26), 1) == [date(2025, 11, 27), date(2025, 12, 27)]


def test_is_fictional_phone() -> None:
    assert is_fictional_phone("+8613800000001")
    assert is_fictional_phone("+12025550142")
    assert not is_fictional_phone("+8613800138000")
    assert not is_fictional_phone("+12025551234")


def test_late_payers_are_a_stable_subset_chosen_by_the_seed() -> None:
    numbers = [str(FIRST_SYNTHETIC_ACCOUNT + index) for index in range(10_000)]
    late = {n for n in numbers if is_late_payer(1, n)}
    assert late == {n for n in numbers if is_late_payer(1, n)}
    assert late != {n for n in numbers if is_late_payer(2, n)}
    assert 300 < len(late) < 500


@pytest.mark.parametrize(("customers", "months"), [(-1, 12), (10, 0), (10, -3), (10, 121)])
def test_bad_sizes_are_refused(customers: int, months: int) -> None:
    with pytest.raises(InvalidInput):
        SeedConfig(customers=customers, months=months, seed=1, until=UNTIL)


def test_demo_rows_do_not_depend_on_the_seed() -> None:
    def demo_rows(seed: int) -> list[Row]:
        generator = SeedPopulation(config(0, seed=seed))
        return list(generator.demo_rows(EMMA_BROWN, book_id=1))

    rows = demo_rows(1)
    assert rows == demo_rows(2)
    customer = next(row for row in rows if isinstance(row, CustomerRow))
    assert customer.name == "Emma Brown" and customer.timezone == "America/New_York"
    meter = next(row for row in rows if isinstance(row, MeterRow))
    assert meter.tou
    readings = [row for row in rows if isinstance(row, ReadingRow)]
    assert len(readings) == MONTHS + 1
    assert all(r.anomaly is None and not r.estimated for r in readings)


# -- events in the latest period, the one the next bill run bills ------------------------------

CHANGE_KINDS = (
    Anomaly.new_connection,
    Anomaly.capacity_change,
    Anomaly.tariff_change,
    Anomaly.meter_parameter_change,
    Anomaly.meter_replacement,
    Anomaly.meter_fault,
)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def latest_period(account: AccountRow) -> tuple[date, date]:
    dates = reading_dates(account.reading_day, UNTIL, MONTHS)
    return dates[-2], dates[-1]


def test_business_changes_fall_inside_the_latest_period_one_per_account() -> None:
    generator, _ = population()
    accounts = {a.id: a for a in rows_of(AccountRow)}
    changes = rows_of(BusinessChangeRow)
    assert Counter(change.kind for change in changes) == {
        kind: generator.anomalies[kind] for kind in CHANGE_KINDS
    }
    assert all(generator.anomalies[kind] > 0 for kind in CHANGE_KINDS)
    assert len({change.account_id for change in changes}) == len(changes)
    for change in changes:
        start, end = latest_period(accounts[change.account_id])
        assert start < change.effective_on < end
        assert change.created_at.tzinfo is not None and change.note.startswith("seed: ")
    # A few per thousand accounts each, as a utility sees them in a month.
    assert 0.003 * len(accounts) < len(changes) < 0.02 * len(accounts)


def test_a_tariff_change_ends_one_assignment_the_day_before_the_next_starts() -> None:
    assignments: dict[int, list[TariffAssignmentRow]] = defaultdict(list)
    for row in rows_of(TariffAssignmentRow):
        assignments[row.account_id].append(row)
    changed = {c.account_id: c for c in rows_of(BusinessChangeRow) if c.kind == "tariff_change"}
    assert changed
    for account_id, rows in assignments.items():
        if account_id not in changed:
            assert len(rows) == 1 and rows[0].effective_to is None
            continue
        first, second = rows
        on = changed[account_id].effective_on
        assert second.tariff_code == TARIFF_CHANGES[first.tariff_code]
        assert first.effective_to == on - timedelta(days=1)
        assert second.effective_from == on and second.effective_to is None


def test_a_replaced_meter_ends_with_a_final_reading_and_a_new_meter_takes_over() -> None:
    accounts = {a.id: a for a in rows_of(AccountRow)}
    meters: dict[int, list[MeterRow]] = defaultdict(list)
    for meter in rows_of(MeterRow):
        meters[meter.account_id].append(meter)
    by_meter = readings_by_meter()
    replaced = {
        c.account_id: c for c in rows_of(BusinessChangeRow) if c.kind == "meter_replacement"
    }
    assert replaced
    assert sum(len(m) for m in meters.values()) == len(accounts) + len(replaced)
    for account_id, change in replaced.items():
        old, new = meters[account_id]
        start, end = latest_period(accounts[account_id])
        on = change.effective_on
        assert old.removed_on == new.installed_on == on
        assert end - timedelta(days=REPLACEMENT_WINDOW_DAYS) <= on < end  # in the bill's window
        assert old.tou == new.tou and new.removed_on is None
        assert old.serial in change.note and new.serial in change.note
        *_, previous, final = by_meter[old.id]
        assert previous.read_at.astimezone(SHANGHAI).date() == start
        assert final.read_at.astimezone(SHANGHAI).date() == on
        assert not previous.estimated and not final.estimated
        assert previous.total <= final.total
        (reading,) = by_meter[new.id]
        assert reading.read_at.astimezone(SHANGHAI).date() == end
        assert 0 <= new.initial_total <= Decimal(NEW_METER_START_MAX) / 100
        assert new.initial_total <= reading.total


def test_a_new_connection_opens_in_the_latest_period_from_its_meters_initial_register() -> None:
    customers = {c.id: c for c in rows_of(CustomerRow)}
    accounts = {a.id: a for a in rows_of(AccountRow)}
    meters = {m.account_id: m for m in rows_of(MeterRow)}
    by_meter = readings_by_meter()
    connected = [c for c in rows_of(BusinessChangeRow) if c.kind == "new_connection"]
    assert connected
    for change in connected:
        account = accounts[change.account_id]
        meter = meters[account.id]
        start, end = latest_period(account)
        assert start < account.opened_on == meter.installed_on == change.effective_on
        assert account.opened_on <= end - timedelta(days=NEW_CONNECTION_MIN_DAYS)
        zone = ZoneInfo(customers[account.customer_id].timezone or "Asia/Shanghai")
        assert (
            customers[account.customer_id].created_at.astimezone(zone).date() == change.effective_on
        )
        (reading,) = by_meter[meter.id]
        assert reading.read_at.astimezone(zone).date() == end
        assert meter.initial_total <= reading.total
        if meter.tou:
            assert meter.initial_peak is not None and meter.initial_flat is not None
            assert meter.initial_valley is not None
            initial = meter.initial_peak + meter.initial_flat + meter.initial_valley
            assert initial == meter.initial_total
    # No contact is verified or opted out after the last day with data.
    latest = datetime.combine(UNTIL, time(0, 0), SHANGHAI)
    for contact in rows_of(ContactRow):
        assert contact.verified_at is None or contact.verified_at <= latest
        assert contact.opted_out_at is None or contact.opted_out_at <= latest


def test_every_book_holds_every_reviewed_event_in_its_latest_period() -> None:
    """The per-book quotas: even a small population makes every review rule fire."""
    books = {b.id for b in rows_of(ReadingBookRow)}
    accounts = {a.id: a for a in rows_of(AccountRow)}
    meters = {m.id: m for m in rows_of(MeterRow)}
    found: dict[int, set[str]] = defaultdict(set)
    for change in rows_of(BusinessChangeRow):
        found[accounts[change.account_id].reading_book_id or 0].add(change.kind)
    for meter_id, readings in readings_by_meter().items():
        book = accounts[meters[meter_id].account_id].reading_book_id or 0
        if readings[-1].anomaly is not None:
            found[book].add(readings[-1].anomaly)
    always = {*CHANGE_KINDS, Anomaly.tou_drift, Anomaly.power_factor_drop}
    for book in books:
        assert always <= found[book], book
    # Clusters are rarer: their quota runs over the whole population.
    assert any(Anomaly.child_exceeds_parent in kinds for kinds in found.values())


def test_a_quota_takes_the_first_candidate_of_each_book_then_every_nth() -> None:
    quota = _Quota(0.25)
    assert [quota.pick(1) for _ in range(9)] == [True, False, False, False] * 2 + [True]
    assert quota.pick(2)  # another book starts with its own first candidate
    quota = _Quota(1 / 3)
    assert quota.offer(1)  # owed but not taken (the account carries another event) ...
    assert quota.offer(1)  # ... so the next candidate is still owed it
    quota.take(1)
    assert not quota.offer(1)
    assert quota.offer(1)
