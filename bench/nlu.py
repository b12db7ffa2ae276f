"""Recognition speed: messages per second and the p50/p99 of one recognition over the held-out
texts, beside `normalise` alone as a baseline measured in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from billing_core.conversations.intents import recognise
from billing_core.conversations.nlu.model import model, read_examples
from billing_core.conversations.nlu.normalise import normalise

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "nlu" / "heldout.tsv"


@dataclass(frozen=True)
class Timing:
    messages: int
    per_second: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class NluBench:
    build_s: float  # training the classifier, the first recognition's extra work
    recognise: Timing
    normalise: Timing  # the baseline: folding alone


def _time(function: Callable[[str], object], texts: list[str], messages: int) -> Timing:
    samples = []
    started = time.perf_counter()
    for i in range(messages):
        text = texts[i % len(texts)]
        before = time.perf_counter()
        function(text)
        samples.append(time.perf_counter() - before)
    elapsed = time.perf_counter() - started
    samples.sort()
    return Timing(
        messages=messages,
        per_second=messages / elapsed if elapsed else 0.0,
        p50_ms=samples[len(samples) // 2] * 1000,
        p99_ms=samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000,
    )


def run(messages: int = 20_000, *, texts_file: Path = HELDOUT) -> NluBench:
    """Recognise `messages` messages, cycling over the texts of `texts_file`."""
    texts = [example.text for example in read_examples(texts_file)]
    started = time.perf_counter()
    model()
    build_s = time.perf_counter() - started
    for text in texts:  # warm: OpenCC loaded, misspelt words' corrections cached
        recognise(text)
    return NluBench(
        build_s=build_s,
        recognise=_time(recognise, texts, messages),
        normalise=_time(normalise, texts, messages),
    )


if __name__ == "__main__":  # pragma: no cover - `wattdesk bench nlu` is the way in
    print(run())
