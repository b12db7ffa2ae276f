"""The seed generator's rows for one customer: customer, sensitivity, contacts, accounts,
tariff assignments, meters (replacements included) and business changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from billing_core.customers.model import AccountStatus, Channel, CustomerKind, SensitivityKind
from billing_core.readings.model import ReadingSource
from billing_core.seed.model import (
    CHANGE_NOTES,
    FIRST_SYNTHETIC_ACCOUNT,
    REPLACEMENT_WINDOW_DAYS,
    SHARE_ROLLOVER_METERS,
    SHARE_SENSITIVE,
    TARIFF_CHANGES,
    TELEGRAM_FIRST_ID,
    AccountRow,
    Anomaly,
    BusinessChangeRow,
    ContactRow,
    CustomerRow,
    ReadingBookRow,
    Row,
    SensitivityRow,
    TariffAssignmentRow,
    _serial,
)
from billing_core.seed.readings import _ReadingRows
from billing_core.seed.regions import SENSITIVITY_NOTES, Region
from billing_core.seed.state import _Meter


class _AccountRows(_ReadingRows):
    """The rows of one customer: the customer, its contacts, accounts, tariff, meters and
    the business changes (业扩变更) in its latest period."""

    # -- rows for one customer ----------------------------------------------------------------

    def _customer(
        self,
        *,
        name: str,
        kind: str,
        language: str,
        timezone: str | None,
        household_size: int,
        group_id: int | None,
        opened_on: date,
    ) -> CustomerRow:
        self.customers_made += 1
        return CustomerRow(
            id=self._take_id("customer"),
            name=name,
            kind=kind,
            language=language,
            timezone=timezone,
            household_size=household_size,
            group_id=group_id,
            created_at=self._local_instant(opened_on, time(10, 0), timezone),
        )

    def _sensitivity(
        self, customer: CustomerRow, opened_on: date, *, english: bool
    ) -> Iterator[SensitivityRow]:
        rng = self.rng
        if rng.random() >= SHARE_SENSITIVE:
            return
        kind = rng.choice(tuple(SensitivityKind))
        valid_from = min(opened_on + timedelta(days=rng.randint(0, 2000)), self.config.until)
        expired = rng.random() < 0.2
        yield SensitivityRow(
            id=self._take_id("customer_sensitivity"),
            customer_id=customer.id,
            kind=kind,
            valid_from=valid_from,
            valid_to=valid_from + timedelta(days=365) if expired else None,
            note=SENSITIVITY_NOTES[kind][1 if english else 0],
        )

    def _contacts(
        self, customer: CustomerRow, opened_on: date, *, country: str, business: bool = False
    ) -> Iterator[ContactRow]:
        rng = self.rng
        created = customer.created_at
        if rng.random() < 0.97:
            opted_out = rng.random() < 0.01
            verified = rng.random() < 0.85
            late_hours = rng.random() < 0.02
            yield ContactRow(
                id=self._take_id("contact"),
                customer_id=customer.id,
                channel=Channel.sms,
                address=self._us_phone() if country == "US" else self._cn_phone(),
                verified=verified,
                verified_at=self._by_until(created + timedelta(minutes=rng.randint(5, 43_200)))
                if verified
                else None,
                notify=True,
                opted_out=opted_out,
                opted_out_at=self._by_until(created + timedelta(days=rng.randint(1, 25)))
                if opted_out
                else None,
                allowed_from=time(9, 0) if late_hours else time(8, 0),
                allowed_until=time(20, 0) if late_hours else time(21, 0),
            )
        if rng.random() < (0.30 if country == "US" else 0.12):
            self._telegram_seq += 1
            verified = rng.random() < 0.8
            yield ContactRow(
                id=self._take_id("contact"),
                customer_id=customer.id,
                channel=Channel.telegram,
                address=str(TELEGRAM_FIRST_ID + self._telegram_seq),
                verified=verified,
                verified_at=self._by_until(created + timedelta(days=rng.randint(1, 25)))
                if verified
                else None,
                notify=True,
                opted_out=False,
                opted_out_at=None,
                allowed_from=time(8, 0),
                allowed_until=time(21, 0),
            )
        if rng.random() < (0.5 if country == "US" or business else 0.15):
            if business:
                address = f"billing{customer.id}@example.net"
            elif country == "US":
                first, last = customer.name.lower().split(" ", 1)
                address = f"{first}.{last}.{customer.id}@example.com"
            else:
                address = f"customer{customer.id}@example.com"
            verified = rng.random() < 0.6
            yield ContactRow(
                id=self._take_id("contact"),
                customer_id=customer.id,
                channel=Channel.email,
                address=address,
                verified=verified,
                verified_at=self._by_until(created + timedelta(days=rng.randint(1, 25)))
                if verified
                else None,
                notify=True,
                opted_out=False,
                opted_out_at=None,
                allowed_from=time(8, 0),
                allowed_until=time(21, 0),
            )

    def _account(
        self, customer: CustomerRow, book: ReadingBookRow, address: str, opened_on: date
    ) -> AccountRow:
        number = str(FIRST_SYNTHETIC_ACCOUNT + self._account_seq)
        self._account_seq += 1
        return AccountRow(
            id=self._take_id("account"),
            number=number,
            customer_id=customer.id,
            service_address=address,
            reading_book_id=book.id,
            reading_day=book.reading_day,
            billing_cycle_months=1,
            status=AccountStatus.active,
            payment_terms_days=None,
            opened_on=opened_on,
            closed_on=None,
        )

    def _tariff(self, account_id: int, tariff_code: str, opened_on: date) -> TariffAssignmentRow:
        return TariffAssignmentRow(
            id=self._take_id("tariff_assignment"),
            account_id=account_id,
            tariff_code=tariff_code,
            effective_from=opened_on,
            effective_to=None,
            reason="seed: tariff at connection",
        )

    def _account_with_meter(
        self,
        *,
        customer: CustomerRow,
        book: ReadingBookRow,
        region: Region,
        address: str,
        monthly_kwh: float,
        opened_on: date,
        timezone: str | None,
        multiplier: int = 1,
        new_connection: bool = False,
    ) -> Iterator[Row]:
        """An account, its tariff and its meter with readings. A new connection (opened in the
        latest period) has one partial period; an older account may carry a business change
        in its latest period (see `_account_event`)."""
        rng = self.rng
        account = self._account(customer, book, address, opened_on)
        yield account
        tariff = self._tariff(account.id, region.tariff_code, opened_on)
        factors = self._factors_for(book.reading_day, region.season)
        day_starts = self._starts_for(book.reading_day, timezone)
        if new_connection:
            start, end = self._last_period(book.reading_day)
            factors = [factors[-1] * (end - opened_on).days / (end - start).days]
            day_starts = [self._local_instant(opened_on, time(9, 0), timezone), day_starts[-1]]
        deltas = self._deltas(monthly_kwh, factors, multiplier)
        anomalies = self.config.anomalies
        rollover = (
            anomalies
            and not region.tou
            and not new_connection
            and rng.random() < SHARE_ROLLOVER_METERS
        )
        event = Anomaly.new_connection if new_connection else None
        if anomalies and not rollover and not new_connection:
            event = self._account_event(book, region)
        changed_on = opened_on
        if event == Anomaly.meter_replacement:
            changed_on = self._last_period(book.reading_day)[1] - timedelta(
                days=rng.randint(1, REPLACEMENT_WINDOW_DAYS)
            )
        elif event is not None and event != Anomaly.new_connection:
            changed_on = self._day_in_last_period(book.reading_day)
        if event == Anomaly.tariff_change:
            tariff.effective_to = changed_on - timedelta(days=1)  # its last day
            yield tariff
            yield TariffAssignmentRow(
                id=self._take_id("tariff_assignment"),
                account_id=account.id,
                tariff_code=TARIFF_CHANGES[region.tariff_code],
                effective_from=changed_on,
                effective_to=None,
                reason=CHANGE_NOTES[Anomaly.tariff_change],
            )
        else:
            yield tariff
        if event is not None and event != Anomaly.meter_replacement:
            yield self._business_change(account.id, event, changed_on, timezone)
        tags: list[str | None] = [None] * len(deltas)
        if anomalies and not rollover and not new_connection:
            self._plant_usage_anomalies(deltas, tags)
        if region.tou:
            digits = 6 if multiplier == 1 and monthly_kwh < 5000 else 7
        else:
            digits = 5 if rollover or rng.random() < 0.1 else 6
        meter = _Meter(
            id=self._take_id("meter"),
            account_id=account.id,
            tou=region.tou,
            flat_register=region.flat_register,
            digits=digits,
            multiplier=multiplier,
            installed_on=opened_on,
            parent_meter_id=None,
            source=ReadingSource.smart if region.tou else ReadingSource.reader,
            reader_id=None if region.tou else f"R{book.id:04d}",
            day_starts=day_starts,
            anomalies=anomalies and not rollover,
            rollover=rollover,
            reactive=customer.kind == CustomerKind.non_residential,
            book_id=book.id,
            timezone=timezone,
            new=new_connection,
        )
        if event == Anomaly.meter_replacement:
            yield from self._replaced_meter_rows(meter, deltas, tags, changed_on)
        else:
            yield from self._meter_rows(meter, deltas, tags)

    def _new_connection(self, book: ReadingBookRow) -> bool:
        """Whether the next customer of this book is a new connection (新装)."""
        if not self.config.anomalies:
            return False
        if self._quotas[Anomaly.new_connection].pick(book.id):
            self.anomalies[Anomaly.new_connection] += 1
            return True
        return False

    def _account_event(self, book: ReadingBookRow, region: Region) -> Anomaly | None:
        """The business change in this account's latest period, if any: at most one, each kind
        at its rate among the accounts it can happen to (every quota counts the candidate)."""
        candidates = (
            # On a TOU meter the bill run carries every register across the replacement.
            (Anomaly.meter_replacement, True),
            (Anomaly.meter_fault, True),
            (Anomaly.capacity_change, True),
            (Anomaly.meter_parameter_change, True),
            (Anomaly.tariff_change, region.tariff_code in TARIFF_CHANGES),
        )
        event = None
        for kind, possible in candidates:
            quota = self._quotas[kind]
            if possible and quota.offer(book.id) and event is None:
                quota.take(book.id)
                event = kind
        if event is not None:
            self.anomalies[event] += 1
        return event

    def _business_change(
        self, account_id: int, kind: Anomaly, on: date, timezone: str | None, note: str = ""
    ) -> BusinessChangeRow:
        return BusinessChangeRow(
            id=self._take_id("business_change"),
            account_id=account_id,
            kind=kind.value,
            effective_on=on,
            note=note or CHANGE_NOTES[kind],
            created_at=self._local_instant(on, time(16, 0), timezone),
        )

    def _replaced_meter_rows(
        self, meter: _Meter, deltas: list[int], tags: list[str | None], on: date
    ) -> Iterator[Row]:
        """A meter replaced (换表) on `on`, late in its latest period: the old meter's readings
        end with a final reading that day and it is removed; a new meter (a new serial, its
        starting register as initial values) is installed the same day and read on the
        reading day; and the business change records it."""
        start, end = self._last_period_of(meter)
        share = (on - start).days / (end - start).days
        before = round(deltas[-1] * share)
        at = self._local_instant(on, time(9, 0), meter.timezone)
        old = replace(
            meter,
            removed_on=on,
            day_starts=[*meter.day_starts[:-1], at],
            plain_from=len(deltas) - 1,  # the bill needs the previous and final readings
        )
        old_tags = [*tags[:-1], tags[-1] or Anomaly.meter_replacement]
        yield from self._meter_rows(old, [*deltas[:-1], before], old_tags)
        new = replace(
            meter,
            id=self._take_id("meter"),
            installed_on=on,
            new=True,
            anomalies=False,
            day_starts=[at, meter.day_starts[-1]],
            removed_on=None,
            plain_from=None,
        )
        yield from self._meter_rows(new, [deltas[-1] - before], [None])
        note = f"{CHANGE_NOTES[Anomaly.meter_replacement]}: {_serial(old.id)} → {_serial(new.id)}"
        yield self._business_change(
            meter.account_id, Anomaly.meter_replacement, on, meter.timezone, note
        )

    def _last_period_of(self, meter: _Meter) -> tuple[date, date]:
        zone = ZoneInfo(meter.timezone) if meter.timezone else self.tz
        return (
            meter.day_starts[-2].astimezone(zone).date(),
            meter.day_starts[-1].astimezone(zone).date(),
        )
