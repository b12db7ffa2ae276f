"""Recognition measured on a labelled file: accuracy per intent and language, the confusion
matrix and the misses; and one message explained (for `wattdesk nlu`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from billing_core.conversations.intents import Intent, IntentKind
from billing_core.conversations.nlu.model import Example
from billing_core.conversations.nlu.normalise import normalise
from billing_core.conversations.nlu.pipeline import deterministic, rank, recognise


@dataclass(frozen=True)
class Miss:
    text: str
    language: str
    expected: str
    got: str
    score: float


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    # (language, intent) -> [correct, total]
    cells: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)  # (expected, got)
    misses: list[Miss] = field(default_factory=list)
    false_stops: int = 0  # messages labelled other than stop that came out as stop

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def by_language(self) -> dict[str, float]:
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (language, _), (right, count) in self.cells.items():
            sums[language][0] += right
            sums[language][1] += count
        return {language: right / count for language, (right, count) in sorted(sums.items())}

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "by_language": {k: round(v, 4) for k, v in self.by_language().items()},
            "by_intent": {
                f"{language}:{intent}": {"correct": right, "total": count}
                for (language, intent), (right, count) in sorted(self.cells.items())
            },
            "confusion": [
                {"expected": expected, "got": got, "count": count}
                for (expected, got), count in sorted(self.confusion.items())
            ],
            "false_stops": self.false_stops,
            "misses": [miss.__dict__ for miss in self.misses],
        }


def evaluate(examples: list[Example]) -> Report:
    report = Report()
    for example in examples:
        intent = recognise(example.text)
        got = intent.kind.value
        right = got == example.intent
        cell = report.cells.setdefault((example.language, example.intent), [0, 0])
        cell[0] += right
        cell[1] += 1
        report.total += 1
        report.correct += right
        report.confusion[(example.intent, got)] += 1
        if got == IntentKind.stop and example.intent != IntentKind.stop:
            report.false_stops += 1
        if not right:
            report.misses.append(
                Miss(example.text, example.language, example.intent, got, round(intent.score, 3))
            )
    return report


@dataclass(frozen=True)
class Explanation:
    normalised: str
    intent: Intent
    exact: bool  # decided by rule (a command, a complaint word), not by the classifier
    top: list[tuple[IntentKind, float]]  # the classifier's three best, with scores


def explain(text: str) -> Explanation:
    words = normalise(text)
    intent = recognise(text)
    return Explanation(
        normalised=words,
        intent=intent,
        exact=deterministic(words) is not None,
        top=rank(words)[:3] if words else [],
    )
