"""Pricing a billing period: blocks, seasons, annual tiers, TOU, proration, charges."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing_core.customers.model import CustomerKind
from billing_core.errors import InvalidInput
from billing_core.tariffs import (
    MINIMUM_TOP_UP,
    AccountAttributes,
    Consumption,
    Interval,
    TariffError,
    power_factor_adjustment,
    price_period,
    price_period_exact,
)
from tests.unit.tariffs.factories import (
    D,
    blocks_energy,
    build,
    shipped,
    tariff_data,
)

OCT_1, OCT_31 = date(2026, 10, 1), date(2026, 10, 31)
NON_RESIDENTIAL = AccountAttributes(customer_kind=CustomerKind.non_residential)


def lines_of(bill: object) -> list[tuple[str, str, str, str]]:
    return [
        (line.component, str(line.quantity), str(line.unit_price), str(line.amount))
        for line in bill.lines  # type: ignore[attr-defined]
    ]


def test_beijing_300_kwh_in_a_month_costs_149_49() -> None:
    bill = price_period(
        shipped("beijing-residential"),
        start=OCT_1,
        end=OCT_31,
        consumption=Consumption.total(300),
    )
    assert lines_of(bill) == [
        ("Energy block 1", "240", "0.4883", "117.19"),
        ("Energy block 2", "60", "0.5383", "32.30"),
    ]
    assert bill.total == D("149.49")
    assert bill.currency == "CNY"


def test_block_limit_belongs_to_the_lower_block() -> None:
    beijing = shipped("beijing-residential")
    at_limit = price_period(beijing, start=OCT_1, end=OCT_31, consumption=Consumption.total(240))
    above = price_period(beijing, start=OCT_1, end=OCT_31, consumption=Consumption.total(241))
    assert lines_of(at_limit) == [("Energy block 1", "240", "0.4883", "117.19")]
    assert lines_of(above)[1] == ("Energy block 2", "1", "0.5383", "0.54")


def test_each_line_is_rounded_half_up_and_the_total_is_the_sum_of_the_lines() -> None:
    tariff = build(tariff_data(blocks_energy(limits=("1",), surcharges=("0",), price="0.125")))
    bill = price_period(tariff, start=OCT_1, end=OCT_31, consumption=Consumption.total(2))
    # 1 kWh x 0.125 = 0.125 twice: each rounds up to 0.13 (banker's rounding would give 0.12)
    assert [line.amount for line in bill.lines] == [D("0.13"), D("0.13")]
    assert bill.total == D("0.26")


def test_annual_blocks_place_the_period_by_the_year_to_date_total() -> None:
    bill = price_period(
        shipped("zhejiang-residential"),
        start=OCT_1,
        end=OCT_31,
        consumption=Consumption.total(200),
        account=AccountAttributes(ytd_kwh=D(2700)),
    )
    assert lines_of(bill) == [
        ("Energy block 1", "60", "0.538", "32.28"),
        ("Energy block 2", "140", "0.588", "82.32"),
    ]
    assert bill.total == D("114.60")


def test_annual_blocks_start_again_at_the_tariff_year() -> None:
    bill = price_period(
        shipped("zhejiang-residential"),
        start=date(2026, 12, 17),
        end=date(2027, 1, 15),
        consumption=Consumption.total(300),
        account=AccountAttributes(ytd_kwh=D(4800)),
    )
    # 15 days in 2026 (150 kWh, all above 4800) and 15 days in 2027 (150 kWh from 0)
    assert [(line.component, line.quantity, line.amount) for line in bill.lines] == [
        ("Energy block 1 (12-17–12-31)", D(0), D("0.00")),
        ("Energy block 3 (12-17–12-31)", D(150), D("125.70")),
        ("Energy block 1 (01-01–01-15)", D(150), D("80.70")),
    ]
    assert bill.total == D("206.40")


def test_seasonal_blocks_follow_the_month() -> None:
    guangdong = shipped("guangdong-residential")
    july = price_period(
        guangdong,
        start=date(2026, 7, 1),
        end=date(2026, 7, 31),
        consumption=Consumption.total(300),
    )
    january = price_period(
        guangdong,
        start=date(2026, 1, 1),
        end=date(2026, 1, 31),
        consumption=Consumption.total(300),
    )
    assert lines_of(july) == [
        ("Energy block 1, summer", "260", "0.59", "153.40"),
        ("Energy block 2, summer", "40", "0.64", "25.60"),
    ]
    assert lines_of(january) == [
        ("Energy block 1, non-summer", "200", "0.59", "118.00"),
        ("Energy block 2, non-summer", "100", "0.64", "64.00"),
    ]


def test_period_across_a_change_of_season_is_split_by_days() -> None:
    bill = price_period(
        shipped("guangdong-residential"),
        start=date(2026, 10, 15),
        end=date(2026, 11, 13),
        consumption=Consumption.total(600),
    )
    # 17 summer days: 340 kWh over limits 147.333 / 340; 13 other days: 260 kWh over 86.667
    # / 173.333.
    assert lines_of(bill) == [
        ("Energy block 1, summer (10-15–10-31)", "147.333", "0.59", "86.93"),
        ("Energy block 2, summer (10-15–10-31)", "192.667", "0.64", "123.31"),
        ("Energy block 1, non-summer (11-01–11-13)", "86.667", "0.59", "51.13"),
        ("Energy block 2, non-summer (11-01–11-13)", "86.667", "0.64", "55.47"),
        ("Energy block 3, non-summer (11-01–11-13)", "86.667", "0.89", "77.13"),
    ]
    assert bill.total == D("393.97")


def test_straddling_period_is_prorated_by_days() -> None:
    fixed = [{"name": "Service charge", "amount": D(10), "per": "month"}]
    data = tariff_data(
        versions=[
            {"effective_from": date(2020, 1, 1), "energy": blocks_energy(price="0.50"),
             "fixed_charges": fixed},
            {"effective_from": date(2026, 6, 16), "energy": blocks_energy(price="0.60"),
             "fixed_charges": fixed},
        ]
    )  # fmt: skip
    bill = price_period(
        build(data),
        start=date(2026, 6, 1),
        end=date(2026, 6, 30),
        consumption=Consumption.total(200),
    )
    # Each half: 100 kWh against limits of 50 / 150, and half the monthly charge.
    assert lines_of(bill) == [
        ("Service charge (06-01–06-15)", "0.5", "10", "5.00"),
        ("Energy block 1 (06-01–06-15)", "50", "0.50", "25.00"),
        ("Energy block 2 (06-01–06-15)", "50", "0.60", "30.00"),
        ("Service charge (06-16–06-30)", "0.5", "10", "5.00"),
        ("Energy block 1 (06-16–06-30)", "50", "0.60", "30.00"),
        ("Energy block 2 (06-16–06-30)", "50", "0.70", "35.00"),
    ]
    assert bill.total == D("130.00")


def test_daily_fixed_charge_counts_the_days_of_the_period() -> None:
    tariff = build(
        tariff_data(fixed_charges=[{"name": "Daily charge", "amount": D("0.50"), "per": "day"}])
    )
    bill = price_period(
        tariff, start=date(2026, 2, 1), end=date(2026, 2, 28), consumption=Consumption.total(0)
    )
    assert lines_of(bill)[0] == ("Daily charge", "28", "0.50", "14.00")


def test_minimum_charge_tops_the_bill_up_to_the_minimum() -> None:
    tariff = build(tariff_data(minimum_charge={"amount": D(20), "per": "month"}))
    bill = price_period(tariff, start=OCT_1, end=OCT_31, consumption=Consumption.total(10))
    assert lines_of(bill) == [
        ("Energy block 1", "10", "0.50", "5.00"),
        (MINIMUM_TOP_UP, "1", "15.00", "15.00"),
    ]
    assert bill.total == D("20.00")
    above = price_period(tariff, start=OCT_1, end=OCT_31, consumption=Consumption.total(50))
    assert bill.total == D(20) and above.total == D("25.00")


def test_tou_lines_show_period_prices_plus_block_surcharges() -> None:
    bill = price_period(
        shipped("zhejiang-residential-tou"),
        start=OCT_1,
        end=OCT_31,
        consumption=Consumption.of_registers({"peak": D(300), "valley": D(200)}),
        account=AccountAttributes(ytd_kwh=D(2600)),
    )
    assert lines_of(bill) == [
        ("Energy peak", "300", "0.568", "170.40"),
        ("Energy valley", "200", "0.288", "57.60"),
        ("Block 2 surcharge", "340", "0.05", "17.00"),
    ]
    assert bill.total == D("245.00")


def test_tou_tariff_refuses_a_bare_total() -> None:
    with pytest.raises(TariffError, match="time of use"):
        price_period(
            shipped("zhejiang-residential-tou"),
            start=OCT_1,
            end=OCT_31,
            consumption=Consumption.total(500),
        )


def test_missing_register_is_refused() -> None:
    with pytest.raises(TariffError, match=r"registers\.valley: missing"):
        price_period(
            shipped("zhejiang-residential-tou"),
            start=OCT_1,
            end=OCT_31,
            consumption=Consumption.of_registers({"peak": D(300)}),
        )


def test_register_with_kwh_for_a_period_the_tariff_lacks_is_refused() -> None:
    with pytest.raises(TariffError, match=r"registers\.flat: 50 kWh"):
        price_period(
            shipped("zhejiang-residential-tou"),
            start=OCT_1,
            end=OCT_31,
            consumption=Consumption.of_registers({"peak": D(1), "flat": D(50), "valley": D(1)}),
        )


def test_zero_register_for_a_period_the_tariff_lacks_is_ignored() -> None:
    bill = price_period(
        shipped("zhejiang-residential-tou"),
        start=OCT_1,
        end=OCT_31,
        consumption=Consumption.of_registers({"peak": D(10), "flat": D(0), "valley": D(10)}),
    )
    assert bill.total == D("8.56")


def test_intervals_are_placed_by_the_tariffs_local_wall_clock() -> None:
    # 23:00 UTC is 07:00 in Shanghai (valley); 00:00 UTC is 08:00 (peak).
    intervals = [
        Interval(start=datetime(2026, 10, 4, 23, tzinfo=UTC), kwh=D(2)),
        Interval(start=datetime(2026, 10, 5, 0, tzinfo=UTC), kwh=D(3)),
    ]
    bill = price_period(
        shipped("zhejiang-residential-tou"),
        start=OCT_1,
        end=OCT_31,
        consumption=Consumption.of_intervals(intervals),
    )
    assert lines_of(bill) == [
        ("Energy peak", "3", "0.568", "1.70"),
        ("Energy valley", "2", "0.288", "0.58"),
    ]


def test_daylight_saving_moves_the_schedule_with_the_wall_clock() -> None:
    us = shipped("us-example-tiered-tou")
    # 20:00 UTC is 14:00 in Denver in July (MDT): on-peak in summer. In January the same
    # UTC hour is 13:00 (MST): mid-peak.
    july = price_period(
        us,
        start=date(2026, 7, 1),
        end=date(2026, 7, 31),
        consumption=Consumption.of_intervals(
            [Interval(start=datetime(2026, 7, 1, 20, tzinfo=UTC), kwh=D(10))]
        ),
    )
    january = price_period(
        us,
        start=date(2026, 1, 1),
        end=date(2026, 1, 31),
        consumption=Consumption.of_intervals(
            [Interval(start=datetime(2026, 1, 7, 20, tzinfo=UTC), kwh=D(10))]
        ),
    )

    def energy(bill: object) -> list[str]:
        return [
            line.component
            for line in bill.lines  # type: ignore[attr-defined]
            if line.component.startswith("Energy") and line.quantity
        ]

    assert energy(july) == ["Energy peak block 1"]
    assert energy(january) == ["Energy flat block 1"]


def test_interval_outside_the_period_is_refused() -> None:
    with pytest.raises(TariffError, match=r"intervals\.0\.start"):
        price_period(
            shipped("beijing-residential"),
            start=OCT_1,
            end=OCT_31,
            consumption=Consumption.of_intervals(
                [Interval(start=datetime(2026, 11, 5, tzinfo=UTC), kwh=D(1))]
            ),
        )


def test_interval_without_a_time_zone_is_refused() -> None:
    with pytest.raises(TariffError, match="timezone-aware"):
        Consumption.of_intervals([Interval(start=datetime(2026, 10, 5, 8), kwh=D(1))])


def test_negative_consumption_is_refused() -> None:
    with pytest.raises(TariffError, match="negative"):
        Consumption.total(-1)


def test_power_factor_adjusts_fixed_and_energy_charges_of_non_residential_accounts() -> None:
    commercial = shipped("cn-general-commercial")
    registers = {"peak": D(1000), "flat": D(2000), "valley": D(1000)}
    low = price_period(
        commercial,
        start=OCT_1,
        end=OCT_31,
        consumption=Consumption.of_registers(registers, power_factor=D("0.85")),
        account=NON_RESIDENTIAL,
    )
    high = price_period(
        commercial,
        start=OCT_1,
        end=OCT_31,
        consumption=Consumption.of_registers(registers, power_factor=D("0.953")),
        account=NON_RESIDENTIAL,
    )
    # 1019.20 + 1315.60 + 316.40 = 2651.20; PF 0.85 on the 0.90 table: +2.5 %
    assert lines_of(low)[-1] == (
        "Power factor adjustment (PF 0.85, std 0.90)", "2651.20", "0.025", "66.28"
    )  # fmt: skip
    assert low.total == D("2717.48")
    # PF 0.953 is taken as 0.95: -0.75 %
    assert lines_of(high)[-1][3] == "-19.88"
    assert power_factor_adjustment(high) == D("-19.88")


def test_residential_accounts_get_no_power_factor_adjustment() -> None:
    tariff = build(
        tariff_data(kinds=("residential", "non_residential"), power_factor={"standard": D("0.85")})
    )
    consumption = Consumption.total(100, power_factor=D("0.65"))
    residential = price_period(tariff, start=OCT_1, end=OCT_31, consumption=consumption)
    business = price_period(
        tariff, start=OCT_1, end=OCT_31, consumption=consumption, account=NON_RESIDENTIAL
    )
    assert power_factor_adjustment(residential) is None
    assert business.lines[-1].unit_price == D("0.1")  # 0.65 on the 0.85 table: +10 %


def test_no_measured_power_factor_means_no_adjustment() -> None:
    bill = price_period(
        shipped("cn-general-commercial"),
        start=OCT_1,
        end=OCT_31,
        consumption=Consumption.of_registers({"peak": D(1), "flat": D(1), "valley": D(1)}),
        account=NON_RESIDENTIAL,
    )
    assert power_factor_adjustment(bill) is None


def test_large_household_gets_wider_blocks() -> None:
    tariff = build(tariff_data(household_size=[{"min_persons": 5, "raise_limits_by": D(50)}]))

    def total(persons: int | None) -> Decimal:
        return price_period(
            tariff,
            start=OCT_1,
            end=OCT_31,
            consumption=Consumption.total(150),
            account=AccountAttributes(household_size=persons),
        ).total

    assert total(5) == D("75.00")  # 150 kWh all in block 1 (limit 150)
    assert total(4) == D("80.00")  # 100 x 0.50 + 50 x 0.60
    assert total(None) == D("80.00")


def test_account_of_a_kind_the_tariff_is_not_for_is_refused() -> None:
    with pytest.raises(TariffError, match="residential"):
        price_period(
            shipped("beijing-residential"),
            start=OCT_1,
            end=OCT_31,
            consumption=Consumption.total(1),
            account=NON_RESIDENTIAL,
        )


def test_period_before_the_first_version_is_refused() -> None:
    with pytest.raises(TariffError, match="no version in effect on 2012-06-30"):
        price_period(
            shipped("beijing-residential"),
            start=date(2012, 6, 30),
            end=date(2012, 7, 30),
            consumption=Consumption.total(1),
        )


def test_period_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(TariffError, match="before start"):
        price_period(
            shipped("beijing-residential"),
            start=OCT_31,
            end=OCT_1,
            consumption=Consumption.total(1),
        )


def test_tariff_error_is_invalid_input() -> None:
    assert issubclass(TariffError, InvalidInput)


def test_proportional_block_shares_follow_sam_even_when_they_lower_a_bill() -> None:
    """URDB-style tiers per period: a period's kWh is shared over the blocks in proportion to
    its part of the month. With a cheaper upper block in one period, more kWh in another
    period can lower the bill: the convention SAM uses, kept for equality with it."""
    energy = {
        "tou": {
            "periods": [
                {"name": "day", "tier_prices": [D(10), D(0)]},
                {"name": "night", "tier_prices": [D(0), D(0)]},
            ],
            "hours": [{"period": "day", "from": 8, "to": 20},
                      {"period": "night", "from": 20, "to": 8}],
        },
        "blocks": {"tiers": [{"up_to": D(100)}, {}]},
    }  # fmt: skip
    tariff = build(tariff_data(energy))

    def total(night: int) -> Decimal:
        return price_period(
            tariff,
            start=OCT_1,
            end=OCT_31,
            consumption=Consumption.of_registers({"day": D(100), "night": D(night)}),
        ).total

    assert total(0) == D("1000.00")
    assert total(100) == D("500.00")


def test_fast_path_and_exact_reference_agree_on_the_examples_above() -> None:
    cases = [
        ("beijing-residential", Consumption.total(D("431.7")), AccountAttributes()),
        ("zhejiang-residential", Consumption.total(900), AccountAttributes(ytd_kwh=D(4500))),
        (
            "zhejiang-residential-tou",
            Consumption.of_registers({"peak": D(2000), "valley": D("900.5")}),
            AccountAttributes(ytd_kwh=D(3000)),
        ),
    ]
    for code, consumption, account in cases:
        tariff = shipped(code)
        fast = price_period(tariff, start=OCT_1, end=OCT_31, consumption=consumption,
                            account=account)  # fmt: skip
        exact = price_period_exact(tariff, start=OCT_1, end=OCT_31, consumption=consumption,
                                   account=account)  # fmt: skip
        assert fast == exact


def test_customer_kind_given_as_its_stored_text_is_understood() -> None:
    bill = price_period(
        shipped("cn-general-commercial"),
        start=OCT_1,
        end=OCT_31,
        consumption=Consumption.of_registers(
            {"peak": D(1), "flat": D(1), "valley": D(1)}, power_factor=D("0.80")
        ),
        account=AccountAttributes(customer_kind="non_residential"),  # type: ignore[arg-type]
    )
    assert power_factor_adjustment(bill) is not None
