"""Compile a validated tariff spec into plain values (tuples, ints, Decimals) once, so that
pricing a bill does no YAML, pydantic or by-name work."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision

from billing_core.tariffs.model import (
    FixedCharge,
    LineStyle,
    Season,
    Tariff,
    TariffError,
    TariffSource,
    TariffVersion,
)
from billing_core.tariffs.power_factor import STANDARD_TABLES, PowerFactorTable
from billing_core.tariffs.schema import (
    EnergySpec,
    PowerFactorSpec,
    TariffSpec,
    TierSpec,
    VersionSpec,
    tou_schedule,
)

_ZERO = Decimal(0)


def compile_tariff(spec: TariffSpec, *, code: str) -> Tariff:
    return Tariff(
        code=code,
        name=spec.name,
        currency=spec.currency,
        minor_unit=int(get_currency_precision(spec.currency)),
        timezone=spec.timezone,
        customer_kinds=tuple(spec.customer_kinds),
        versions=tuple(_compile_version(version) for version in spec.versions),
        source=TariffSource(
            publisher=spec.source.publisher,
            date=spec.source.date,
            title=spec.source.title,
            url=spec.source.url,
            note=spec.source.note,
        ),
    )


def _seasons(energy: EnergySpec) -> tuple[list[tuple[str, list[TierSpec]]], tuple[int, ...]]:
    """(name, tiers) per season and the season index of each month."""
    blocks = energy.blocks
    if blocks is None:
        return [("all year", [TierSpec()])], (0,) * 12
    if blocks.seasons is None:
        assert blocks.tiers is not None
        return [("all year", blocks.tiers)], (0,) * 12
    of_month = [0] * 12
    for index, season in enumerate(blocks.seasons):
        for month in season.months:
            of_month[month - 1] = index
    return [(season.name, season.tiers) for season in blocks.seasons], tuple(of_month)


def _compile_version(version: VersionSpec) -> TariffVersion:
    energy = version.energy
    seasons_spec, season_of_month = _seasons(energy)
    tou = energy.tou
    seasons = []
    for name, tiers in seasons_spec:
        limits = tuple(tier.up_to for tier in tiers[:-1] if tier.up_to is not None)
        surcharges = tuple(tier.surcharge or _ZERO for tier in tiers)
        if tou is None:
            if energy.price is not None:
                row = tuple(energy.price + surcharge for surcharge in surcharges)
            else:
                row = tuple(tier.price for tier in tiers if tier.price is not None)
            seasons.append(Season(name=name, limits=limits, prices=(row,)))
        elif all(period.tier_prices is not None for period in tou.periods):
            # Validation gave each period the schedule uses in this season one price per
            # block; a period it does not use is fitted (last price repeated) for safety.
            prices = tuple(
                _fit(period.tier_prices or [_ZERO], len(tiers)) for period in tou.periods
            )
            seasons.append(Season(name=name, limits=limits, prices=prices))
        else:
            prices = tuple(
                tuple((period.price or _ZERO) + surcharge for surcharge in surcharges)
                for period in tou.periods
            )
            seasons.append(Season(name=name, limits=limits, prices=prices, surcharges=surcharges))

    if tou is None:
        style = LineStyle.blocks
        periods: tuple[str, ...] = ("",)
        period_prices: tuple[Decimal, ...] = ()
        schedule: tuple[int, ...] = ()
    else:
        problems: list[str] = []
        schedule = tou_schedule(tou, "energy.tou", problems)
        if problems:  # validated before compiling; kept so a bad spec can never compile
            raise TariffError(problems)
        periods = tuple(period.name for period in tou.periods)
        if all(period.tier_prices is not None for period in tou.periods):
            style = LineStyle.tou_matrix
            period_prices = ()
        else:
            style = LineStyle.tou_surcharge
            period_prices = tuple(period.price or _ZERO for period in tou.periods)

    blocks = energy.blocks
    annual = blocks is not None and blocks.basis == "annual"
    year_start = (1, 1)
    if blocks is not None:
        year_start = (int(blocks.year_starts[:2]), int(blocks.year_starts[3:]))
    return TariffVersion(
        effective_from=version.effective_from,
        line_style=style,
        periods=periods,
        period_prices=period_prices,
        seasons=tuple(seasons),
        season_of_month=season_of_month,
        annual_blocks=annual,
        year_start=year_start,
        schedule=schedule,
        fixed_charges=tuple(
            FixedCharge(name=charge.name, amount=charge.amount, per=charge.per)
            for charge in version.fixed_charges
        ),
        minimum_charge=(
            FixedCharge(
                name="Minimum charge",
                amount=version.minimum_charge.amount,
                per=version.minimum_charge.per,
            )
            if version.minimum_charge is not None
            else None
        ),
        power_factor=_power_factor(version.power_factor),
        household_rules=tuple(
            sorted(
                ((rule.min_persons, rule.raise_limits_by) for rule in version.household_size),
                reverse=True,
            )
        ),
    )


def _fit(prices: list[Decimal], blocks: int) -> tuple[Decimal, ...]:
    return tuple(prices[min(index, len(prices) - 1)] for index in range(blocks))


def _power_factor(spec: PowerFactorSpec | None) -> PowerFactorTable | None:
    if spec is None:
        return None
    if spec.table is None:
        return STANDARD_TABLES[f"{spec.standard:.2f}"]
    return PowerFactorTable(
        standard=spec.standard,
        rows=tuple((row.at_least, row.percent) for row in spec.table),
    )
