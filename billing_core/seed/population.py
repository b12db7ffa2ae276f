"""Pure generation of a synthetic population: rows for every seeded table from a config and a
seed, with no database, so the same seed always yields the same rows."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import time, timedelta

from billing_core.customers.model import AccountStatus, Channel, CustomerKind, Language
from billing_core.readings.model import ReadingSource
from billing_core.seed.accounts import _AccountRows
from billing_core.seed.model import (
    _UP_TO_BUSINESS,
    _UP_TO_GROUPS,
    _UP_TO_US,
    NEW_CONNECTION_MIN_DAYS,
    P_CHILD_EXCEEDS_PARENT,
    SHARE_CLUSTER_UNITS,
    SHARE_SECOND_ACCOUNT,
    US_TIMEZONE,
    AccountRow,
    Anomaly,
    ContactRow,
    CustomerGroupRow,
    DemoCustomer,
    ReadingBookRow,
    Row,
    SeedConfig,
    e164,
)
from billing_core.seed.regions import (
    BUSINESS_KINDS,
    BUSINESS_PREFIXES,
    BUSINESS_TARIFF,
    CN_REGION_KEYS,
    CN_RESIDENTIAL_WEIGHTS,
    GROUP_KINDS,
    HOUSEHOLD_FACTOR,
    HOUSEHOLD_SIZES,
    HOUSEHOLD_WEIGHTS,
    REGIONS,
    SEASON_BUSINESS,
    Region,
)
from billing_core.seed.state import WHOLE_POPULATION, _Meter


class SeedPopulation(_AccountRows):
    """Generates the rows of a population. Iterate `rows()` once; `anomalies` then counts what
    was planted (by `Anomaly` value) and `customers_made` how many customers were generated."""

    # -- the population -----------------------------------------------------------------------

    def rows(self) -> Iterator[Row]:
        """Every row, parents before children (see TABLE_ORDER): books, then one unit of
        customers at a time (a household, a business, a group or a parent/child cluster)."""
        config = self.config
        if config.customers == 0:
            return
        yield from self._make_books()
        rng = self.rng
        while self.customers_made < config.customers:
            remaining = config.customers - self.customers_made
            draw = rng.random()
            if draw < SHARE_CLUSTER_UNITS and remaining >= 3:
                yield from self._cluster(min(rng.randint(3, 6), remaining))
            elif draw < _UP_TO_GROUPS and remaining >= 2:
                yield from self._group(min(rng.randint(3, 6), remaining))
            elif draw < _UP_TO_BUSINESS:
                yield from self._business(self._pick_book(), group_id=None)
            elif draw < _UP_TO_US:
                yield from self._household("us")
            else:
                yield from self._household(self._pick_cn_region())

    def _make_books(self) -> Iterator[ReadingBookRow]:
        config, rng = self.config, self.rng
        expected_accounts = config.customers * (1 + SHARE_SECOND_ACCOUNT)
        count = max(1, math.ceil(expected_accounts / config.accounts_per_book))
        if count >= 28:
            days = [1 + (index * 28) // count for index in range(count)]
        else:
            days = sorted(rng.sample(range(1, 29), count))
        for index, day in enumerate(days, start=1):
            book = ReadingBookRow(
                id=self._take_id("reading_book"),
                code=f"B{index:04d}",
                name=f"抄表段 B{index:04d}（例日 {day} 日）",
                reading_day=day,
            )
            self._books.append(book)
            yield book

    def _pick_book(self) -> ReadingBookRow:
        return self._books[self.rng.randrange(len(self._books))]

    def _pick_cn_region(self) -> str:
        draw = self.rng.randrange(100)
        for key, weight in CN_RESIDENTIAL_WEIGHTS:
            if draw < weight:
                return key
            draw -= weight
        return CN_RESIDENTIAL_WEIGHTS[-1][0]

    # -- units --------------------------------------------------------------------------------

    def _household(self, region_key: str) -> Iterator[Row]:
        rng = self.rng
        region = REGIONS[region_key]
        us = region_key == "us"
        size = rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0]
        monthly = region.monthly_kwh * HOUSEHOLD_FACTOR[size] * rng.lognormvariate(0.0, 0.45)
        book = self._pick_book()
        timezone = US_TIMEZONE if us else None
        opened_on = self.dates_for(book.reading_day)[0] - timedelta(days=rng.randint(30, 5000))
        new_connection = self._new_connection(book)
        if new_connection:
            opened_on = self._day_in_last_period(
                book.reading_day, days_before_reading=NEW_CONNECTION_MIN_DAYS
            )
        customer = self._customer(
            name=self._english_name() if us else self._chinese_name(),
            kind=CustomerKind.residential,
            language=Language.en if us else Language.zh_cn,
            timezone=timezone,
            household_size=size,
            group_id=None,
            opened_on=opened_on,
        )
        yield customer
        yield from self._sensitivity(customer, opened_on, english=us)
        yield from self._contacts(customer, opened_on, country="US" if us else "CN")
        yield from self._account_with_meter(
            customer=customer,
            book=book,
            region=region,
            address=self._us_address() if us else self._cn_address(region, residential=True),
            monthly_kwh=monthly,
            opened_on=opened_on,
            timezone=timezone,
            new_connection=new_connection,
        )
        if not us and not new_connection and rng.random() < SHARE_SECOND_ACCOUNT:
            second_book = self._pick_book()
            yield from self._account_with_meter(
                customer=customer,
                book=second_book,
                region=region,
                address=self._cn_address(region, residential=True),
                monthly_kwh=monthly * 0.4,
                opened_on=self.dates_for(second_book.reading_day)[0]
                - timedelta(days=rng.randint(30, 3000)),
                timezone=None,
            )

    def _business(
        self, book: ReadingBookRow, *, group_id: int | None, name: str | None = None
    ) -> Iterator[Row]:
        rng = self.rng
        region = REGIONS[rng.choice(CN_REGION_KEYS)]
        monthly = min(max(rng.lognormvariate(math.log(2500.0), 0.9), 150.0), 200_000.0)
        opened_on = self.dates_for(book.reading_day)[0] - timedelta(days=rng.randint(30, 5000))
        new_connection = self._new_connection(book)
        if new_connection:
            opened_on = self._day_in_last_period(
                book.reading_day, days_before_reading=NEW_CONNECTION_MIN_DAYS
            )
        customer = self._customer(
            name=name or rng.choice(BUSINESS_PREFIXES) + rng.choice(BUSINESS_KINDS),
            kind=CustomerKind.non_residential,
            language=Language.zh_cn,
            timezone=None,
            household_size=1,
            group_id=group_id,
            opened_on=opened_on,
        )
        yield customer
        yield from self._contacts(customer, opened_on, country="CN", business=True)
        yield from self._account_with_meter(
            customer=customer,
            book=book,
            region=Region(BUSINESS_TARIFF, True, SEASON_BUSINESS, monthly, region.cities),
            address=self._cn_address(region, residential=False),
            monthly_kwh=monthly,
            opened_on=opened_on,
            timezone=None,
            multiplier=rng.choice((20, 40, 80)) if monthly > 8000 else 1,
            new_connection=new_connection,
        )

    def _group(self, members: int) -> Iterator[Row]:
        rng = self.rng
        group_id = self._take_id("customer_group")
        prefix = rng.choice(BUSINESS_PREFIXES)
        group_name = f"{prefix}{rng.choice(GROUP_KINDS)}"
        yield CustomerGroupRow(
            id=group_id, code=f"G{group_id:06d}", name=group_name, consolidated_notice=True
        )
        for index in range(1, members + 1):
            branch = f"{group_name}第{index}分店"
            yield from self._business(self._pick_book(), group_id=group_id, name=branch)

    def _cluster(self, size: int) -> Iterator[Row]:
        """A landlord (物业) whose parent meter (母表) feeds its tenants' child meters (子表)."""
        rng = self.rng
        book = self._pick_book()
        dates = self.dates_for(book.reading_day)
        region_key = rng.choice(CN_REGION_KEYS)
        region = REGIONS[region_key]
        starts = self._starts_for(book.reading_day, None)
        parent_multiplier = rng.choice((1, 10, 20))
        parent_meter_id = self._take_id("meter")

        # The tenants' consumption comes first: the landlord's meter measures it plus its own.
        tenants: list[tuple[Region, bool, list[int]]] = []
        child_sum = [0] * self.config.months
        for _ in range(size - 1):
            shop = rng.random() < 0.5
            tenant_region = (
                Region(BUSINESS_TARIFF, True, SEASON_BUSINESS, 0.0, region.cities)
                if shop
                else region
            )
            monthly = (
                rng.lognormvariate(math.log(1200.0), 0.6)
                if shop
                else region.monthly_kwh * rng.lognormvariate(0.0, 0.45)
            )
            deltas = self._deltas(
                monthly, self._factors_for(book.reading_day, tenant_region.season), 1
            )
            child_sum = [total + delta for total, delta in zip(child_sum, deltas, strict=True)]
            tenants.append((tenant_region, shop, deltas))

        parent_deltas: list[int] = []
        parent_tags: list[str | None] = []
        short_period = -1
        if self.config.anomalies:
            if self._quotas[Anomaly.child_exceeds_parent].pick(WHOLE_POPULATION):
                short_period = self.config.months - 1  # the period the next bill run bills
            elif rng.random() < P_CHILD_EXCEEDS_PARENT:
                short_period = rng.randrange(self.config.months)
        for index, children in enumerate(child_sum):
            if index == short_period and children > 0:
                kwh_centi = int(children * rng.uniform(0.80, 0.92))
                parent_deltas.append(kwh_centi // parent_multiplier)
                parent_tags.append(Anomaly.child_exceeds_parent)
                self.anomalies[Anomaly.child_exceeds_parent] += 1
            else:
                kwh_centi = int(children * rng.uniform(1.15, 1.6)) + 1
                parent_deltas.append(-(-kwh_centi // parent_multiplier))
                parent_tags.append(None)

        opened_on = dates[0] - timedelta(days=rng.randint(365, 5000))
        landlord = self._customer(
            name=f"{rng.choice(BUSINESS_PREFIXES)}物业管理有限公司",
            kind=CustomerKind.non_residential,
            language=Language.zh_cn,
            timezone=None,
            household_size=1,
            group_id=None,
            opened_on=opened_on,
        )
        yield landlord
        yield from self._contacts(landlord, opened_on, country="CN", business=True)
        account = self._account(
            landlord, book, self._cn_address(region, residential=False), opened_on
        )
        yield account
        yield self._tariff(account.id, BUSINESS_TARIFF, opened_on)
        yield from self._meter_rows(
            _Meter(
                id=parent_meter_id,
                account_id=account.id,
                tou=True,
                digits=7,
                multiplier=parent_multiplier,
                installed_on=opened_on,
                parent_meter_id=None,
                source=ReadingSource.smart,
                reader_id=None,
                day_starts=starts,
                anomalies=False,
                rollover=False,
                reactive=True,
            ),
            parent_deltas,
            parent_tags,
        )
        for tenant_region, shop, deltas in tenants:
            tenant_opened = dates[0] - timedelta(days=rng.randint(30, 3000))
            tenant = self._customer(
                name=(rng.choice(BUSINESS_PREFIXES) + rng.choice(BUSINESS_KINDS))
                if shop
                else self._chinese_name(),
                kind=CustomerKind.non_residential if shop else CustomerKind.residential,
                language=Language.zh_cn,
                timezone=None,
                household_size=1 if shop else rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0],
                group_id=None,
                opened_on=tenant_opened,
            )
            yield tenant
            yield from self._contacts(tenant, tenant_opened, country="CN", business=shop)
            tenant_account = self._account(
                tenant, book, self._cn_address(region, residential=not shop), tenant_opened
            )
            yield tenant_account
            yield self._tariff(tenant_account.id, tenant_region.tariff_code, tenant_opened)
            yield from self._meter_rows(
                _Meter(
                    id=self._take_id("meter"),
                    account_id=tenant_account.id,
                    tou=tenant_region.tou,
                    flat_register=tenant_region.flat_register,
                    digits=6,
                    multiplier=1,
                    installed_on=tenant_opened,
                    parent_meter_id=parent_meter_id,
                    source=ReadingSource.smart if tenant_region.tou else ReadingSource.reader,
                    reader_id=None if tenant_region.tou else f"R{book.id:04d}",
                    day_starts=starts,
                    anomalies=False,
                    rollover=False,
                    reactive=shop,
                ),
                deltas,
                [None] * len(deltas),
            )

    def demo_rows(self, demo: DemoCustomer, book_id: int) -> Iterator[Row]:
        """Rows for one documented demo customer: clean readings, no anomalies, and the same
        values whatever the population's seed."""
        saved = self.rng
        self.rng = random.Random(f"demo:{demo.account_number}")
        try:
            region = REGIONS[demo.region]
            opened_on = self.dates_for(demo.reading_day)[0] - timedelta(days=900)
            customer = self._customer(
                name=demo.name,
                kind=CustomerKind.residential,
                language=demo.language,
                timezone=demo.timezone,
                household_size=demo.household_size,
                group_id=None,
                opened_on=opened_on,
            )
            yield customer
            created = customer.created_at
            yield ContactRow(
                id=self._take_id("contact"),
                customer_id=customer.id,
                channel=Channel.sms,
                address=e164(demo.phone),
                verified=True,
                verified_at=created + timedelta(hours=1),
                notify=True,
                opted_out=False,
                opted_out_at=None,
                allowed_from=time(8, 0),
                allowed_until=time(21, 0),
            )
            account = AccountRow(
                id=self._take_id("account"),
                number=demo.account_number,
                customer_id=customer.id,
                service_address=demo.service_address,
                reading_book_id=book_id,
                reading_day=demo.reading_day,
                billing_cycle_months=1,
                status=AccountStatus.active,
                payment_terms_days=None,
                opened_on=opened_on,
                closed_on=None,
            )
            yield account
            yield self._tariff(account.id, demo.tariff_code, opened_on)
            factors = self._factors_for(demo.reading_day, region.season)
            yield from self._meter_rows(
                _Meter(
                    id=self._take_id("meter"),
                    account_id=account.id,
                    tou=demo.tou,
                    digits=6,
                    multiplier=1,
                    installed_on=opened_on,
                    parent_meter_id=None,
                    source=ReadingSource.smart if demo.tou else ReadingSource.reader,
                    reader_id=None if demo.tou else "R0000",
                    day_starts=self._starts_for(demo.reading_day, demo.timezone),
                    anomalies=False,
                    rollover=False,
                ),
                self._deltas(demo.monthly_kwh, factors, 1),
                [None] * len(factors),
            )
        finally:
            self.rng = saved


def generate_population(config: SeedConfig) -> Iterator[Row]:
    """Every row of a population, parents before children. Same config, same rows."""
    return SeedPopulation(config).rows()
