"""`bench/nlu.py` runs (tiny sizes: a check that it works, not a measurement)."""

from __future__ import annotations

from bench.nlu import run


def test_the_nlu_bench_reports_rates_and_percentiles() -> None:
    result = run(50)
    for timing in (result.recognise, result.normalise):
        assert timing.messages == 50
        assert timing.per_second > 0
        assert 0 < timing.p50_ms <= timing.p99_ms
    assert result.build_s >= 0
