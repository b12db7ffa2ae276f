"""The seed generator's readings: register advances by season and household, TOU splits,
missing, estimated and reversed readings, drifts and power-factor drops."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from billing_core.readings.model import ReadingSource
from billing_core.seed.model import (
    NEW_METER_START_MAX,
    P_ESTIMATED,
    P_MISSING,
    P_POWER_FACTOR_DROP,
    P_REVERSE,
    P_TOU_DRIFT,
    P_USAGE_SWING,
    P_ZERO_USAGE,
    POWER_FACTOR_JITTER,
    SHARE_COMPENSATED,
    TOU_DRIFT_MIN,
    TOU_DRIFT_ON_TWO_RATE_METERS,
    Anomaly,
    MeterRow,
    ReadingRow,
    _serial,
    _tou_parts,
    to_kwh,
)
from billing_core.seed.regions import MONTHLY_NOISE
from billing_core.seed.state import _Meter, _SeedState


class _ReadingRows(_SeedState):
    """Consumption and readings: a meter's register advances, TOU registers and planted
    anomalies, as reading rows."""

    # -- consumption and readings -------------------------------------------------------------

    def _deltas(self, monthly_kwh: float, factors: list[float], multiplier: int) -> list[int]:
        """Register advance per period in 0.01 units: seasonal, with month-to-month noise."""
        lognorm = self.rng.lognormvariate
        scale = monthly_kwh * 100.0 / multiplier
        return [round(scale * factor * lognorm(0.0, MONTHLY_NOISE)) for factor in factors]

    def _plant_usage_anomalies(self, deltas: list[int], tags: list[str | None]) -> None:
        rng = self.rng
        for index in range(len(deltas)):
            draw = rng.random()
            if draw < P_ZERO_USAGE:
                deltas[index] = 0
                tags[index] = Anomaly.zero_usage
                self.anomalies[Anomaly.zero_usage] += 1
            elif draw < P_ZERO_USAGE + P_USAGE_SWING:
                high = rng.random() < 0.6
                factor = rng.uniform(2.5, 4.0) if high else rng.uniform(0.1, 0.3)
                deltas[index] = round(deltas[index] * factor)
                tags[index] = Anomaly.usage_swing
                self.anomalies[Anomaly.usage_swing] += 1

    def _meter_rows(
        self, meter: _Meter, deltas: list[int], tags: list[str | None]
    ) -> Iterator[MeterRow | ReadingRow]:
        """The meter and its readings: an opening reading (none for a new meter, whose
        starting registers are its initial values), then one per period. Registers are
        cumulative and wrap at 10**digits; the TOU registers add up to the total except where
        one lags (Anomaly.tou_drift)."""
        rng = self.rng
        drop_last = meter.reactive and self._plants_last(Anomaly.power_factor_drop, meter, tags)
        reactive = (
            self._reactive_deltas(meter, deltas, tags, drop_last=drop_last)
            if meter.reactive
            else None
        )
        advance = max(sum(deltas), sum(reactive or ()))
        digits = meter.digits
        # A register must hold the whole window (twice over, to leave room for a random start),
        # except on a rollover meter, which must pass its maximum once.
        while digits < 10 and 10**digits * 100 < advance * (2 if not meter.rollover else 1.25):
            digits += 1
        cap = 10**digits * 100
        rollover = meter.rollover and advance >= 10
        if meter.new:
            start = rng.randint(0, NEW_METER_START_MAX)
        elif rollover:
            start = cap - rng.randint(max(1, advance // 5), max(1, advance * 4 // 5))
        else:
            start = rng.randint(0, max(0, cap - advance - 1))

        if meter.tou:
            peak_share = rng.uniform(0.30, 0.45)
            valley_share = rng.uniform(0.20, 0.35)
            if not meter.flat_register:
                valley_share = 1 - peak_share
            registers = [*_tou_parts(start, peak_share, valley_share, meter.flat_register), 0]
            if reactive is not None:
                registers[3] = rng.randint(0, max(0, cap - sum(reactive) - 1))
            parts = []
            for index, delta in enumerate(deltas):
                jitter = rng.uniform(-0.03, 0.03)
                peak, flat, valley = _tou_parts(
                    delta, peak_share + jitter, valley_share - jitter, meter.flat_register
                )
                parts.append((peak, flat, valley, 0 if reactive is None else reactive[index]))
            lags = self._tou_drifts(meter, parts, tags)
            initial = [to_kwh(value) for value in registers[:3]] if meter.new else [Decimal(0)] * 3
            yield MeterRow(
                id=meter.id,
                serial=_serial(meter.id),
                account_id=meter.account_id,
                multiplier=Decimal(meter.multiplier),
                digits=digits,
                tou=True,
                parent_meter_id=meter.parent_meter_id,
                installed_on=meter.installed_on,
                removed_on=meter.removed_on,
                initial_total=sum(initial, Decimal(0)),
                initial_peak=initial[0],
                initial_flat=initial[1],
                initial_valley=initial[2],
            )
            yield from self._tou_readings(meter, registers, parts, tags, lags)
            return

        yield MeterRow(
            id=meter.id,
            serial=_serial(meter.id),
            account_id=meter.account_id,
            multiplier=Decimal(meter.multiplier),
            digits=digits,
            tou=False,
            parent_meter_id=meter.parent_meter_id,
            installed_on=meter.installed_on,
            removed_on=meter.removed_on,
            initial_total=to_kwh(start) if meter.new else Decimal(0),
            initial_peak=None,
            initial_flat=None,
            initial_valley=None,
        )
        yield from self._total_readings(meter, start, cap, deltas, tags, rollover)

    def _plants_last(self, kind: Anomaly, meter: _Meter, tags: list[str | None]) -> bool:
        """Whether `kind` goes into the meter's latest period by its book's quota. A candidate
        has both its latest periods free of other anomalies, so that the bill run compares
        the latest period with a clean previous one (the previous bill, for the power factor);
        the readings that bound them are then never missing or estimated."""
        if (
            not meter.anomalies
            or meter.book_id is None
            or meter.new
            or len(tags) < 2
            or tags[-1] is not None
            or tags[-2] is not None
        ):
            return False
        if not self._quotas[kind].pick(meter.book_id):
            return False
        meter.plain_from = len(tags) - 1
        return True

    def _tou_drifts(
        self, meter: _Meter, parts: list[tuple[int, int, int, int]], tags: list[str | None]
    ) -> dict[int, tuple[int, int]]:
        """Periods where one TOU register lags the total register (a stuck or slow register,
        分时度差 ≥ 3 kWh): {period: (register index, 0.01 kWh it lags by)}. The flat register
        lags; on a two-rate meter (no flat register) the peak or valley one would."""
        if not meter.anomalies or not (meter.flat_register or TOU_DRIFT_ON_TWO_RATE_METERS):
            return {}
        rng = self.rng
        register = 1 if meter.flat_register else rng.choice((0, 2))
        lags: dict[int, tuple[int, int]] = {}

        def can_lag(index: int) -> bool:
            return (
                tags[index] is None and parts[index][register] * meter.multiplier >= TOU_DRIFT_MIN
            )

        last = len(parts) - 1
        forced = can_lag(last) and self._plants_last(Anomaly.tou_drift, meter, tags)
        for index, part in enumerate(parts):
            chosen = rng.random() < P_TOU_DRIFT
            if forced and index >= last - 1:
                chosen = index == last  # the latest period, against a clean previous one
            if chosen and can_lag(index):
                lags[index] = (register, int(part[register] * rng.uniform(0.3, 0.9)))
                tags[index] = Anomaly.tou_drift
                self.anomalies[Anomaly.tou_drift] += 1
        return lags

    def _reactive_deltas(
        self, meter: _Meter, deltas: list[int], tags: list[str | None], *, drop_last: bool = False
    ) -> list[int]:
        """Reactive energy per period from a power factor around the meter's own; with
        `drop_last`, the power factor drops in the latest period (and not the one before)."""
        rng = self.rng
        # Most customers compensate (capacitor banks) to earn the full credit; the others sit
        # around the standard, where a month's step up or down the table swings the adjustment.
        compensated = rng.random() < SHARE_COMPENSATED
        power_factor = rng.uniform(0.95, 0.98) if compensated else rng.uniform(0.80, 0.94)
        last = len(deltas) - 1
        reactive = []
        for index, delta in enumerate(deltas):
            if drop_last and index >= last - 1:
                dropped = index == last
            else:
                dropped = (
                    meter.anomalies and tags[index] is None and rng.random() < P_POWER_FACTOR_DROP
                )
            if dropped:
                period_factor = rng.uniform(0.60, 0.70)
                tags[index] = Anomaly.power_factor_drop
                self.anomalies[Anomaly.power_factor_drop] += 1
            else:
                jitter = rng.uniform(-POWER_FACTOR_JITTER, POWER_FACTOR_JITTER)
                period_factor = min(0.99, power_factor + jitter)
            reactive.append(round(delta * math.tan(math.acos(period_factor))))
        return reactive

    def _recorded_anomaly(self, meter: _Meter, tou: bool, index: int) -> str | None:
        """What happens to reading `index` as recorded: missing, estimated, reversed or None."""
        if not meter.anomalies or (meter.plain_from is not None and index >= meter.plain_from):
            return None
        draw = self.rng.random()
        if draw < P_MISSING:
            return Anomaly.missing_reading
        if draw < P_MISSING + P_ESTIMATED:
            return Anomaly.estimated
        if not tou and draw < P_MISSING + P_ESTIMATED + P_REVERSE:
            return Anomaly.reverse_reading
        return None

    def _total_readings(
        self,
        meter: _Meter,
        start: int,
        cap: int,
        deltas: list[int],
        tags: list[str | None],
        rollover: bool,
    ) -> Iterator[ReadingRow]:
        rng = self.rng
        randrange = rng.randrange
        starts = meter.day_starts
        true = start
        recorded = start  # the last stored value, wrapped
        if not meter.new:
            opening_at = starts[0] + timedelta(minutes=randrange(480))
            yield self._reading(meter, opening_at, start, None, None, None, None)
        for index, delta in enumerate(deltas, start=1):
            true += delta
            read_at = starts[index] + timedelta(minutes=randrange(480))
            tag = tags[index - 1]
            kind = None if tag else self._recorded_anomaly(meter, False, index)
            if kind == Anomaly.missing_reading:
                self.anomalies[kind] += 1
                continue
            if kind == Anomaly.estimated:
                value = recorded + int((true - recorded) * rng.uniform(0.6, 0.95))
                self.anomalies[kind] += 1
                recorded = value
                yield self._reading(meter, read_at, value, None, None, None, kind, estimated=True)
                continue
            if kind == Anomaly.reverse_reading and recorded >= 200:
                value = recorded - rng.randint(100, min(5000, recorded))
                self.anomalies[kind] += 1
                recorded = value
                yield self._reading(meter, read_at, value, None, None, None, kind)
                continue
            value = true % cap
            if rollover and value < recorded:
                tag = Anomaly.rollover
                self.anomalies[tag] += 1
            recorded = value
            yield self._reading(meter, read_at, value, None, None, None, tag)

    def _tou_readings(
        self,
        meter: _Meter,
        registers: list[int],
        parts: list[tuple[int, int, int, int]],
        tags: list[str | None],
        lags: dict[int, tuple[int, int]],
    ) -> Iterator[ReadingRow]:
        """Readings of a TOU meter: registers are [peak, flat, valley, reactive]; `lags` (see
        `_tou_drifts`) holds a TOU register back from the period on, the total goes on."""
        rng = self.rng
        randrange = rng.randrange
        starts = meter.day_starts
        true = list(registers)
        recorded = list(registers)
        lag = [0, 0, 0]
        if not meter.new:
            opening_at = starts[0] + timedelta(minutes=randrange(480))
            yield self._tou_reading(meter, opening_at, true, lag, None)
        for index, part in enumerate(parts, start=1):
            true = [register + delta for register, delta in zip(true, part, strict=True)]
            if index - 1 in lags:
                register, behind = lags[index - 1]
                lag[register] += behind
            read_at = starts[index] + timedelta(minutes=randrange(480))
            tag = tags[index - 1]
            kind = None if tag else self._recorded_anomaly(meter, True, index)
            if kind == Anomaly.missing_reading:
                self.anomalies[kind] += 1
                continue
            if kind == Anomaly.estimated:
                share = rng.uniform(0.6, 0.95)
                recorded = [
                    old + int((new - old) * share) for old, new in zip(recorded, true, strict=True)
                ]
                self.anomalies[kind] += 1
                yield self._tou_reading(meter, read_at, recorded, lag, kind, estimated=True)
                continue
            recorded = true
            yield self._tou_reading(meter, read_at, true, lag, tag)

    def _tou_reading(
        self,
        meter: _Meter,
        read_at: datetime,
        registers: list[int],
        lag: list[int],
        anomaly: str | None,
        *,
        estimated: bool = False,
    ) -> ReadingRow:
        peak, flat, valley, reactive = registers
        reading = self._reading(
            meter,
            read_at,
            peak + flat + valley,
            peak - lag[0],
            flat - lag[1],
            valley - lag[2],
            anomaly,
            estimated=estimated,
        )
        if meter.reactive:
            reading.reactive = to_kwh(reactive)
        return reading

    def _reading(
        self,
        meter: _Meter,
        read_at: datetime,
        total: int,
        peak: int | None,
        flat: int | None,
        valley: int | None,
        anomaly: str | None,
        *,
        estimated: bool = False,
    ) -> ReadingRow:
        return ReadingRow(
            id=self._take_id("meter_reading"),
            meter_id=meter.id,
            read_at=read_at,
            total=to_kwh(total),
            peak=None if peak is None else to_kwh(peak),
            flat=None if flat is None else to_kwh(flat),
            valley=None if valley is None else to_kwh(valley),
            source=ReadingSource.estimated if estimated else meter.source,
            reader_id=None if estimated else meter.reader_id,
            estimated=estimated,
            anomaly=anomaly,
        )
