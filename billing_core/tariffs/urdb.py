"""Convert an OpenEI Utility Rate Database (URDB v7/v8) rate item into the tariff format, and
name every part of the rate that the format cannot represent."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing_core.tariffs.model import TariffError

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SIX_PLACES = Decimal("0.000001")

# Fields this importer reads, or that describe a rate (who, where, when, for whom) without
# changing its price.
_HANDLED = frozenset(
    {
        "_id",
        "label",
        "uri",
        "name",
        "utility",
        "eiaid",
        "sector",
        "servicetype",
        "description",
        "source",
        "sourceparent",
        "supercedes",
        "startdate",
        "enddate",
        "latest_update",
        "revisions",
        "country",
        "approved",
        "is_default",
        "basicinformationcomments",
        "energycomments",
        "demandcomments",
        "fixedchargecomments",
        "voltageminimum",
        "voltagemaximum",
        "voltagecategory",
        "phasewiring",
        "peakkwcapacitymin",
        "peakkwcapacitymax",
        "peakkwcapacityhistory",
        "peakkwhusagemin",
        "peakkwhusagemax",
        "peakkwhusagehistory",
        "energyratestructure",
        "energyweekdayschedule",
        "energyweekendschedule",
        "fixedchargefirstmeter",
        "fixedchargeunits",
        "mincharge",
        "minchargeunits",
        "dgrules",
        "usenetmetering",
    }
)

# Pricing features the format does not represent, by URDB field prefix.
_UNSUPPORTED_PREFIXES = {
    "demand": "demand charges",
    "flatdemand": "flat demand charges",
    "coincident": "coincident demand charges",
    "lookback": "demand ratchets (lookback)",
    "energyattrs": "energy rate attributes (riders)",
    "fixedattrs": "fixed charge attributes",
    "fixedchargeeaaddl": "fixed charge per additional meter",
}


def read_urdb_json(path: Path) -> Mapping[str, Any]:
    """One rate item from a file holding an item or an API answer {"items": [item]};
    numbers are read as exact Decimals."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise TariffError([f"(file): cannot read: {exc.strerror}"], source=str(path)) from None
    except json.JSONDecodeError as exc:
        raise TariffError([f"(file): not JSON: {exc}"], source=str(path)) from None
    if isinstance(data, Mapping) and "items" in data:
        items = data["items"]
        if not isinstance(items, list) or len(items) != 1:
            count = len(items) if isinstance(items, list) else "no list of"
            raise TariffError([f"items: expected one rate item, found {count}"], source=str(path))
        data = items[0]
    if not isinstance(data, Mapping):
        raise TariffError(["(file): a URDB rate item is a JSON object"], source=str(path))
    return data


def _number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise TariffError([f"{path}: not a number: {value!r}"])
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise TariffError([f"{path}: not a number: {value!r}"]) from None


def _month_names(months: Sequence[int]) -> str:
    """ "May-Oct" or "Jan-Apr, Nov-Dec" for 1-based months."""
    runs: list[list[int]] = []
    for month in sorted(months):
        if runs and runs[-1][-1] == month - 1:
            runs[-1].append(month)
        else:
            runs.append([month])
    return ", ".join(
        _MONTHS[run[0] - 1] if len(run) == 1 else f"{_MONTHS[run[0] - 1]}-{_MONTHS[run[-1] - 1]}"
        for run in runs
    )


def _schedule(item: Mapping[str, Any], key: str, periods: int) -> list[list[int]] | None:
    rows = item.get(key)
    if rows is None:
        return None
    if not isinstance(rows, list) or len(rows) != 12:
        raise TariffError([f"{key}: must be 12 rows (months) of 24 hours"])
    for month, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 24:
            raise TariffError([f"{key}.{month}: must have 24 entries (hours)"])
        for hour, entry in enumerate(row):
            if isinstance(entry, bool) or not isinstance(entry, int) or not 0 <= entry < periods:
                raise TariffError(
                    [
                        f"{key}.{month}.{hour}: period {entry!r} is not in energyratestructure"
                        f" (0..{periods - 1})"
                    ]
                )
    return [list(row) for row in rows]


def urdb_to_tariff(
    item: Mapping[str, Any],
    *,
    timezone: str = "UTC",
    effective_from: date | None = None,
    period_names: Sequence[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The tariff (as plain data for `parse_tariff`) and the names of what was not imported.

    Energy charges that cannot be represented faithfully (tier units other than kWh, tier
    limits that differ between periods of one month) raise TariffError rather than import a
    wrong price; separable charges (demand, net metering, export rates, riders) are left out
    and named. TOU periods are called period_1, period_2... (SAM's numbering) unless
    `period_names` names them, e.g. ("valley", "flat", "peak") to match a meter's registers."""
    unsupported: list[str] = []
    for key, value in item.items():
        if key in _HANDLED:
            continue
        for prefix, feature in _UNSUPPORTED_PREFIXES.items():
            if key.startswith(prefix):
                if value not in (None, [], {}, "", 0):
                    unsupported.append(f"{feature} ({key})")
                break
        else:
            unsupported.append(f"unknown field ({key})")
    dgrules = item.get("dgrules")
    if dgrules:
        unsupported.append(f"net metering / distributed generation rules (dgrules: {dgrules})")
    if item.get("usenetmetering"):
        unsupported.append("net metering (usenetmetering)")

    structure = item.get("energyratestructure")
    if not isinstance(structure, list) or not structure:
        raise TariffError(["energyratestructure: missing: the rate has no energy charges"])
    periods: list[list[tuple[Decimal, Decimal | None]]] = []  # (price, max) per tier
    for p_index, tiers in enumerate(structure):
        if not isinstance(tiers, list) or not tiers:
            raise TariffError([f"energyratestructure.{p_index}: a period needs tiers"])
        parsed: list[tuple[Decimal, Decimal | None]] = []
        for t_index, tier in enumerate(tiers):
            here = f"energyratestructure.{p_index}.{t_index}"
            if not isinstance(tier, Mapping) or "rate" not in tier:
                raise TariffError([f"{here}.rate: missing"])
            unit = str(tier.get("unit", "kWh"))
            if unit.lower() != "kwh":
                raise TariffError([f"{here}.unit: {unit!r} tiers are not supported (only kWh)"])
            price = _number(tier["rate"], f"{here}.rate")
            if "adj" in tier:
                price += _number(tier["adj"], f"{here}.adj")
            if tier.get("sell") not in (None, 0):
                unsupported.append(f"export (sell) rate ({here}.sell)")
            limit = _number(tier["max"], f"{here}.max") if "max" in tier else None
            if t_index == len(tiers) - 1 and limit is not None:
                unsupported.append(
                    f"limit of the last tier ({here}.max = {limit}): the last block is open-ended"
                )
                limit = None
            parsed.append((price, limit))
        periods.append(parsed)

    if period_names is not None and len(period_names) != len(periods):
        raise TariffError(
            [
                f"period names: {len(periods)} periods in energyratestructure, got"
                f" {len(period_names)} names"
            ]
        )
    names = list(period_names or [f"period_{index + 1}" for index in range(len(periods))])
    weekday = _schedule(item, "energyweekdayschedule", len(periods))
    weekend = _schedule(item, "energyweekendschedule", len(periods))
    if weekday is None and weekend is None:
        if len(periods) > 1:
            raise TariffError(["energyweekdayschedule: missing: needed with several periods"])
        weekday = weekend = [[0] * 24 for _ in range(12)]
    weekday = weekday or weekend
    weekend = weekend or weekday
    assert weekday is not None and weekend is not None

    # Block limits per month: every period used in a month must share them (SAM refuses
    # otherwise); months with the same limits form a season.
    season_months: dict[tuple[Decimal | None, ...], list[int]] = {}
    for month in range(12):
        used = sorted(set(weekday[month]) | set(weekend[month]))
        signatures = {tuple(limit for _price, limit in periods[p]) for p in used}
        if len(signatures) > 1:
            raise TariffError(
                [
                    f"energyratestructure: tier limits differ between periods"
                    f" {[p + 1 for p in used]} used in {_MONTHS[month]}; they must be the same"
                ]
            )
        season_months.setdefault(signatures.pop(), []).append(month + 1)

    def tiers_of(signature: tuple[Decimal | None, ...]) -> list[dict[str, Any]]:
        return [{"up_to": limit} if limit is not None else {} for limit in signature]

    many_tiers = any(len(signature) > 1 for signature in season_months)
    blocks: dict[str, Any] | None = None
    if many_tiers:
        if len(season_months) == 1:
            blocks = {"basis": "monthly", "tiers": tiers_of(next(iter(season_months)))}
        else:
            blocks = {
                "basis": "monthly",
                "seasons": [
                    {"name": _month_names(months), "months": months, "tiers": tiers_of(sig)}
                    for sig, months in season_months.items()
                ],
            }

    energy: dict[str, Any]
    used_anywhere = sorted({p for rows in (weekday, weekend) for row in rows for p in row})
    if len(periods) == 1 or len(used_anywhere) == 1:
        only = periods[used_anywhere[0]]
        if len(only) == 1:
            energy = {"price": only[0][0]}
        else:
            assert blocks is not None
            for tier, (price, _limit) in zip(blocks["tiers"], only, strict=True):
                tier["price"] = price
            energy = {"blocks": blocks}
    else:
        tou_periods: list[dict[str, Any]]
        if many_tiers:
            tou_periods = [
                {"name": names[index], "tier_prices": [price for price, _ in tiers]}
                for index, tiers in enumerate(periods)
            ]
        else:
            tou_periods = [
                {"name": names[index], "price": tiers[0][0]} for index, tiers in enumerate(periods)
            ]
        energy = {
            "tou": {"periods": tou_periods, "schedule": {"weekday": weekday, "weekend": weekend}}
        }
        if blocks is not None:
            energy["blocks"] = blocks

    version: dict[str, Any] = {}
    start = item.get("startdate")
    if effective_from is not None:
        version["effective_from"] = effective_from
    elif start is not None:
        version["effective_from"] = datetime.fromtimestamp(int(start), tz=UTC).date()
    else:
        version["effective_from"] = date(1970, 1, 1)
        unsupported.append("effective date (no startdate; 1970-01-01 assumed)")

    fixed = item.get("fixedchargefirstmeter")
    if fixed not in (None, 0):
        amount = _number(fixed, "fixedchargefirstmeter")
        units = str(item.get("fixedchargeunits", "$/month"))
        if units == "$/month":
            version["fixed_charges"] = [{"name": "Fixed charge", "amount": amount, "per": "month"}]
        elif units == "$/day":
            version["fixed_charges"] = [{"name": "Fixed charge", "amount": amount, "per": "day"}]
        elif units == "$/year":
            monthly = amount / 12
            if monthly != monthly.quantize(_SIX_PLACES):
                monthly = monthly.quantize(_SIX_PLACES)
                unsupported.append(
                    f"fixed charge {amount} $/year as an exact twelfth (billed {monthly} a month)"
                )
            version["fixed_charges"] = [{"name": "Fixed charge", "amount": monthly, "per": "month"}]
        else:
            unsupported.append(f"fixed charge in {units} (fixedchargeunits)")
    minimum = item.get("mincharge")
    if minimum not in (None, 0):
        amount = _number(minimum, "mincharge")
        units = str(item.get("minchargeunits", "$/month"))
        if units in ("$/month", "$/day"):
            version["minimum_charge"] = {"amount": amount, "per": units[2:]}
        else:
            unsupported.append(f"minimum charge in {units} (annual minimum, mincharge)")
    version["energy"] = energy

    sector = str(item.get("sector", "Residential")).lower()
    kinds = ["residential"] if sector == "residential" else ["non_residential"]
    utility = str(item.get("utility") or "unnamed utility")
    label = item.get("label")
    note = "example: check against the current official tariff"
    if label:
        note = f"imported from URDB-format rate {label}; {note}"
    source: dict[str, Any] = {
        "publisher": utility,
        "title": str(item.get("name") or "URDB rate"),
        "date": version["effective_from"],
        "note": note,
    }
    if item.get("uri"):
        source["url"] = str(item["uri"])
    tariff = {
        "name": str(item.get("name") or "URDB rate"),
        "currency": "USD",
        "timezone": timezone,
        "customer_kinds": kinds,
        "source": source,
        "versions": [version],
    }
    return tariff, unsupported
