"""The tariff file format (YAML, see docs/tariffs.md): pydantic models, the checks that span
fields, and `load_tariff` / `parse_tariff`, which refuse a bad file with `path: reason` lines."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from babel.numbers import is_currency
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from billing_core.customers.model import CustomerKind
from billing_core.tariffs.model import ChargeBasis, Tariff, TariffError
from billing_core.tariffs.power_factor import STANDARD_TABLES

# --- YAML: numbers as exact Decimals, and no YAML 1.1 surprises ------------------------------

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class TariffLoader(yaml.SafeLoader):
    """SafeLoader that reads 0.4883 as Decimal("0.4883") (never a binary float) and does not
    read 22:00 as the base-60 integer 1320 or 010 as octal."""


TariffLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
TariffLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)
TariffLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    assert isinstance(node, yaml.ScalarNode)
    return Decimal(str(loader.construct_scalar(node)).replace("_", ""))


TariffLoader.add_constructor(_FLOAT_TAG, _construct_decimal)


class TariffDumper(yaml.SafeDumper):
    """Writes Decimals as plain numbers that TariffLoader reads back exactly, mappings as
    blocks and lists of plain values (schedule rows, months) on one line, without anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    text = format(value, "f")
    return dumper.represent_scalar(_FLOAT_TAG if "." in text else _INT_TAG, text)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flat = all(not isinstance(item, dict | list) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


TariffDumper.add_representer(Decimal, _represent_decimal)
TariffDumper.add_representer(list, _represent_list)


# --- the format ------------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Price = Annotated[Decimal, Field(allow_inf_nan=False)]
NonNegative = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1)]
# Bill line names are built from these and stored in 64 characters, hence the limits.
PeriodName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=12,
        description="lower case, e.g. peak, flat, valley",
    ),
]
SeasonName = Annotated[str, Field(min_length=1, max_length=20)]
ChargeName = Annotated[str, Field(min_length=1, max_length=48)]


def _hour(value: Any) -> Any:
    """An hour of the day: 8, or "08:00"; 24 (or "24:00") is the end of the day."""
    if isinstance(value, str):
        match = re.fullmatch(r"(\d{1,2}):00", value.strip())
        if match is None:
            raise ValueError(f'give a whole hour as 8 or "08:00", not {value!r}')
        return int(match.group(1))
    return value


Hour = Annotated[int, BeforeValidator(_hour), Field(ge=0, le=24)]


class SourceSpec(_Spec):
    publisher: Name
    date: dt.date
    title: str = ""
    url: str = ""
    note: str = ""


class FixedChargeSpec(_Spec):
    name: ChargeName
    amount: NonNegative
    per: ChargeBasis


class MinimumChargeSpec(_Spec):
    amount: NonNegative
    per: ChargeBasis


class TierSpec(_Spec):
    up_to: Positive | None = None  # cumulative kWh; the last block has none
    price: Price | None = None  # full price per kWh
    surcharge: Price | None = None  # added to energy.price or to the TOU period's price


class SeasonSpec(_Spec):
    name: SeasonName
    months: list[Annotated[int, Field(ge=1, le=12)]] = Field(min_length=1)
    tiers: list[TierSpec] = Field(min_length=1)


class BlocksSpec(_Spec):
    basis: Literal["monthly", "annual"] = "monthly"
    year_starts: str = "01-01"  # MM-DD, for annual blocks
    tiers: list[TierSpec] | None = None
    seasons: list[SeasonSpec] | None = None


class PeriodSpec(_Spec):
    name: PeriodName
    price: Price | None = None
    tier_prices: list[Price] | None = None  # one price per block (URDB style)


class HourRangeSpec(_Spec):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    period: str
    start: Hour = Field(alias="from")
    end: Hour = Field(alias="to")


class ScheduleSpec(_Spec):
    weekday: list[Any]
    weekend: list[Any] | None = None  # defaults to the weekday schedule


class TouSpec(_Spec):
    periods: list[PeriodSpec] = Field(min_length=1)
    hours: list[HourRangeSpec] | None = None
    weekday_hours: list[HourRangeSpec] | None = None
    weekend_hours: list[HourRangeSpec] | None = None
    schedule: ScheduleSpec | None = None


class EnergySpec(_Spec):
    price: Price | None = None
    blocks: BlocksSpec | None = None
    tou: TouSpec | None = None


class PowerFactorRowSpec(_Spec):
    at_least: Annotated[Decimal, Field(ge=0, le=1)]
    percent: Price


class PowerFactorSpec(_Spec):
    standard: Annotated[Decimal, Field(gt=0, le=1)]
    table: list[PowerFactorRowSpec] | None = None  # default: the standard table


class HouseholdRuleSpec(_Spec):
    min_persons: Annotated[int, Field(ge=1)]
    raise_limits_by: NonNegative  # kWh added to every block limit (in the blocks' basis)


class VersionSpec(_Spec):
    effective_from: dt.date
    fixed_charges: list[FixedChargeSpec] = []
    energy: EnergySpec
    minimum_charge: MinimumChargeSpec | None = None
    power_factor: PowerFactorSpec | None = None
    household_size: list[HouseholdRuleSpec] = []


class TariffSpec(_Spec):
    name: Name
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    timezone: Name
    customer_kinds: list[CustomerKind] = Field(min_length=1)
    source: SourceSpec
    versions: list[VersionSpec] = Field(min_length=1)


# --- checks that span fields -----------------------------------------------------------------


def _check_tiers(path: str, tiers: list[TierSpec], *, priced_by: str, problems: list[str]) -> None:
    """`priced_by` is "price" (each block has a full price), "surcharge" (over a base or TOU
    price) or "periods" (the TOU periods carry a price per block)."""
    previous: Decimal | None = None
    last = len(tiers) - 1
    for index, tier in enumerate(tiers):
        here = f"{path}.{index}"
        if index < last and tier.up_to is None:
            problems.append(f"{here}.up_to: missing: every block but the last needs a limit")
        if index == last and tier.up_to is not None:
            problems.append(f"{here}.up_to: the last block is open-ended: remove up_to")
        if tier.up_to is not None and previous is not None and tier.up_to <= previous:
            problems.append(
                f"{here}.up_to: limits must increase: {tier.up_to} after {previous}"
                f" gives a block of {tier.up_to - previous} kWh"
            )
        if tier.up_to is not None:
            previous = tier.up_to
        if priced_by == "price":
            if tier.price is None:
                problems.append(
                    f"{here}.price: missing: without energy.price each block needs a price"
                )
            if tier.surcharge is not None:
                problems.append(f"{here}.surcharge: a surcharge needs energy.price to add to")
        elif priced_by == "surcharge":
            if tier.price is not None:
                problems.append(f"{here}.price: give a surcharge over the base price, not a price")
            if index > 0 and tier.surcharge is None:
                problems.append(
                    f"{here}.surcharge: missing: give the block's surcharge (0 if none)"
                )
        else:
            if tier.price is not None or tier.surcharge is not None:
                problems.append(
                    f"{here}: the periods' tier_prices price the blocks; give only up_to here"
                )


def _check_hours(
    path: str, ranges: list[HourRangeSpec], names: list[str], problems: list[str]
) -> list[int]:
    """24 period indexes, one per hour; reports unknown periods, overlaps and gaps."""
    owner: list[int | None] = [None] * 24
    for index, hour_range in enumerate(ranges):
        here = f"{path}.{index}"
        if hour_range.period not in names:
            problems.append(
                f"{here}.period: unknown period {hour_range.period!r} (periods: {', '.join(names)})"
            )
            continue
        start, end = hour_range.start % 24, hour_range.end % 24
        if start == end:
            problems.append(f"{here}: empty range ({hour_range.start} to {hour_range.end})")
            continue
        hours = range(start, end) if start < end else [*range(start, 24), *range(0, end)]
        overlapping = [h for h in hours if owner[h] is not None]
        if overlapping:
            other = owner[overlapping[0]]
            problems.append(
                f"{here}: hours {_hour_list(overlapping)} overlap {path}.{other}"
                f" ({ranges[other or 0].period})"
            )
        for h in hours:
            if owner[h] is None:
                owner[h] = index
    gaps = [h for h in range(24) if owner[h] is None]
    if gaps and len(gaps) < 24:
        problems.append(f"{path}: hours {_hour_list(gaps)} belong to no period")
    return [names.index(ranges[i].period) if i is not None else 0 for i in owner]


def _hour_list(hours: list[int]) -> str:
    return ", ".join(f"{h:02d}:00" for h in hours)


def _check_schedule(
    path: str, rows: list[Any], names: list[str], problems: list[str]
) -> list[list[int]]:
    """12 months x 24 hours of period indexes (0-based) or period names."""
    out = [[0] * 24 for _ in range(12)]
    if len(rows) != 12:
        problems.append(f"{path}: must have 12 rows (one per month), has {len(rows)}")
        return out
    for month, row in enumerate(rows):
        here = f"{path}.{month}"
        if not isinstance(row, list) or len(row) != 24:
            size = len(row) if isinstance(row, list) else "no list"
            problems.append(f"{here}: must have 24 entries (one per hour), has {size}")
            continue
        for hour, entry in enumerate(row):
            if isinstance(entry, bool) or not isinstance(entry, int | str):
                problems.append(f"{here}.{hour}: give a period index or name, not {entry!r}")
            elif isinstance(entry, str):
                if entry in names:
                    out[month][hour] = names.index(entry)
                else:
                    problems.append(f"{here}.{hour}: unknown period {entry!r}")
            elif 0 <= entry < len(names):
                out[month][hour] = entry
            else:
                problems.append(
                    f"{here}.{hour}: period index {entry} out of range 0..{len(names) - 1}"
                )
    return out


def tou_schedule(tou: TouSpec, path: str, problems: list[str]) -> tuple[int, ...]:
    """The flattened [weekend][month][hour] schedule of a TOU spec (used by compile too)."""
    names = [period.name for period in tou.periods]
    given = [
        key
        for key, value in (
            ("hours", tou.hours),
            ("weekday_hours", tou.weekday_hours),
            ("weekend_hours", tou.weekend_hours),
            ("schedule", tou.schedule),
        )
        if value is not None
    ]
    if not given:
        problems.append(
            f"{path}: missing schedule: give hours, weekday_hours and"
            " weekend_hours, or schedule (12 x 24)"
        )
        return ()
    if len(given) > 1 and ("hours" in given or "schedule" in given):
        problems.append(
            f"{path}: give only one of hours, weekday/weekend_hours, schedule"
            f" (got {', '.join(given)})"
        )
        return ()
    if tou.hours is not None:
        day = _check_hours(f"{path}.hours", tou.hours, names, problems)
        return tuple(day * 24)
    if tou.schedule is not None:
        weekday = _check_schedule(f"{path}.schedule.weekday", tou.schedule.weekday, names, problems)
        weekend = (
            _check_schedule(f"{path}.schedule.weekend", tou.schedule.weekend, names, problems)
            if tou.schedule.weekend is not None
            else weekday
        )
        return tuple(h for rows in (weekday, weekend) for row in rows for h in row)
    if tou.weekday_hours is None or tou.weekend_hours is None:
        missing = "weekend_hours" if tou.weekend_hours is None else "weekday_hours"
        problems.append(f"{path}.{missing}: missing: weekday_hours and weekend_hours go together")
        return ()
    weekday_day = _check_hours(f"{path}.weekday_hours", tou.weekday_hours, names, problems)
    weekend_day = _check_hours(f"{path}.weekend_hours", tou.weekend_hours, names, problems)
    return tuple(weekday_day * 12 + weekend_day * 12)


def _check_energy(path: str, energy: EnergySpec, problems: list[str]) -> None:
    blocks = energy.blocks
    tiers_by_path: list[tuple[str, list[TierSpec], list[int]]] = []
    if blocks is not None:
        if blocks.tiers is not None and blocks.seasons is not None:
            problems.append(f"{path}.blocks: give tiers or seasons, not both")
        elif blocks.tiers is None and blocks.seasons is None:
            problems.append(f"{path}.blocks.tiers: missing: give tiers (or seasons)")
        elif blocks.tiers is not None:
            if not blocks.tiers:
                problems.append(f"{path}.blocks.tiers: give at least one block")
            tiers_by_path.append((f"{path}.blocks.tiers", blocks.tiers, list(range(1, 13))))
        else:
            assert blocks.seasons is not None
            if blocks.basis == "annual":
                problems.append(f"{path}.blocks.seasons: seasonal blocks need basis: monthly")
            seen: dict[int, str] = {}
            for index, season in enumerate(blocks.seasons):
                for month in season.months:
                    if month in seen:
                        problems.append(
                            f"{path}.blocks.seasons.{index}.months: month {month}"
                            f" is already in season {seen[month]!r}"
                        )
                    seen[month] = season.name
                tiers_by_path.append(
                    (f"{path}.blocks.seasons.{index}.tiers", season.tiers, season.months)
                )
            missing = [m for m in range(1, 13) if m not in seen]
            if missing:
                problems.append(f"{path}.blocks.seasons: months {missing} are in no season")
        if not re.fullmatch(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", blocks.year_starts):
            problems.append(f"{path}.blocks.year_starts: give MM-DD, e.g. 01-01")
        elif blocks.year_starts[:2] == "02" and blocks.year_starts[3:] > "28":
            problems.append(
                f"{path}.blocks.year_starts: a tariff year cannot start on {blocks.year_starts}"
            )

    tou = energy.tou
    if tou is None:
        if energy.price is None and blocks is None:
            problems.append(
                f"{path}.price: missing: give a price per kWh, priced blocks or time-of-use periods"
            )
        priced_by = "surcharge" if energy.price is not None else "price"
        for tier_path, tiers, _months in tiers_by_path:
            _check_tiers(tier_path, tiers, priced_by=priced_by, problems=problems)
        return

    if energy.price is not None:
        problems.append(f"{path}.price: with time-of-use periods the prices go on the periods")
    names = [period.name for period in tou.periods]
    for index, name in enumerate(names):
        if name in names[:index]:
            problems.append(f"{path}.tou.periods.{index}.name: duplicate period {name!r}")
    matrix = [p.tier_prices is not None for p in tou.periods]
    for index, period in enumerate(tou.periods):
        here = f"{path}.tou.periods.{index}"
        if period.price is None and period.tier_prices is None:
            problems.append(f"{here}.price: missing: give price (or tier_prices)")
        elif period.price is not None and period.tier_prices is not None:
            problems.append(f"{here}: give price or tier_prices, not both")
    if any(matrix) and not all(matrix):
        problems.append(f"{path}.tou.periods: give tier_prices on every period or on none")
    schedule = tou_schedule(tou, f"{path}.tou", problems)
    for tier_path, tiers, _months in tiers_by_path:
        _check_tiers(
            tier_path, tiers, priced_by="periods" if all(matrix) else "surcharge", problems=problems
        )
    if all(matrix):
        # Each period used in a season's months needs one price per block of that season
        # (without blocks: one block, so one price).
        seasons = tiers_by_path or [(f"{path}.blocks", [TierSpec()], list(range(1, 13)))]
        for _tier_path, tiers, months in seasons:
            used = (
                {
                    schedule[(weekend * 12 + month - 1) * 24 + hour]
                    for weekend in (0, 1)
                    for month in months
                    for hour in range(24)
                }
                if schedule
                else set()
            )
            for index in sorted(used):
                prices = tou.periods[index].tier_prices or []
                if len(prices) != len(tiers):
                    problems.append(
                        f"{path}.tou.periods.{index}.tier_prices: {len(tiers)} blocks apply in"
                        f" months {months}, so give {len(tiers)} prices (got {len(prices)})"
                    )


def _check(spec: TariffSpec) -> list[str]:
    problems: list[str] = []
    try:
        ZoneInfo(spec.timezone)
    except (ValueError, KeyError, OSError):
        problems.append(f"timezone: unknown time zone {spec.timezone!r}")
    if not is_currency(spec.currency):
        problems.append(f"currency: unknown currency {spec.currency!r}")
    non_residential = CustomerKind.non_residential in spec.customer_kinds
    for index, version in enumerate(spec.versions):
        path = f"versions.{index}"
        if index and version.effective_from <= spec.versions[index - 1].effective_from:
            problems.append(
                f"{path}.effective_from: must be after versions.{index - 1}"
                f" ({spec.versions[index - 1].effective_from})"
            )
        _check_energy(f"{path}.energy", version.energy, problems)
        factor = version.power_factor
        if factor is not None:
            if not non_residential:
                problems.append(
                    f"{path}.power_factor: applies to non-residential accounts;"
                    " add non_residential to customer_kinds"
                )
            if factor.table is None and f"{factor.standard:.2f}" not in STANDARD_TABLES:
                problems.append(
                    f"{path}.power_factor.standard: no standard table for"
                    f" {factor.standard} (0.90, 0.85, 0.80); give a table"
                )
            if factor.table is not None:
                rows = factor.table
                for row_index in range(1, len(rows)):
                    if rows[row_index].at_least >= rows[row_index - 1].at_least:
                        problems.append(
                            f"{path}.power_factor.table.{row_index}.at_least:"
                            " rows go from the highest power factor down"
                        )
                if not rows or rows[-1].at_least != 0:
                    problems.append(
                        f"{path}.power_factor.table: the last row needs"
                        " at_least: 0, so every power factor has a percent"
                    )
        rules = version.household_size
        if rules and version.energy.blocks is None:
            problems.append(f"{path}.household_size: needs energy blocks to widen")
        persons = [rule.min_persons for rule in rules]
        for rule_index, count in enumerate(persons):
            if count in persons[:rule_index]:
                problems.append(
                    f"{path}.household_size.{rule_index}.min_persons: duplicate {count}"
                )
    return problems


# --- entry points ----------------------------------------------------------------------------


def _pydantic_problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "(file)"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{path}: {message}")
    return problems


def validate_tariff_data(data: Any, *, source: str | None = None) -> TariffSpec:
    """The validated spec of a tariff given as plain data (as read from YAML)."""
    if not isinstance(data, Mapping):
        raise TariffError(["(file): a tariff is a mapping of fields"], source=source)
    try:
        spec = TariffSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise TariffError(_pydantic_problems(exc), source=source) from None
    problems = _check(spec)
    if problems:
        raise TariffError(problems, source=source)
    return spec


def parse_tariff(data: Any, *, code: str, source: str | None = None) -> Tariff:
    """Validate plain data and compile it into a Tariff ready for pricing."""
    # compile depends on this module's models, so it is imported here, not at the top.
    from billing_core.tariffs.compile import compile_tariff

    spec = validate_tariff_data(data, source=source)
    return compile_tariff(spec, code=code)


def read_tariff_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TariffError([f"(file): cannot read: {exc.strerror}"], source=str(path)) from None
    try:
        return yaml.load(text, Loader=TariffLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise TariffError([f"{where}: not valid YAML: {exc}"], source=str(path)) from None


def load_tariff(path: Path | str) -> Tariff:
    """Read, validate and compile one tariff file; its code is the file name's stem."""
    file = Path(path)
    return parse_tariff(read_tariff_yaml(file), code=file.stem, source=str(file))


def dump_tariff_yaml(data: Mapping[str, Any]) -> str:
    return yaml.dump(
        dict(data),
        Dumper=TariffDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
