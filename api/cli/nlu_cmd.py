"""`wattdesk nlu eval FILE.tsv`, `nlu explain TEXT` and `nlu train`: how well recognition reads
what customers write, why it read one message as it did, and training it on the examples."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.table import Table

from api.cli.common import console, fail
from billing_core.conversations.nlu.evaluate import evaluate, explain
from billing_core.conversations.nlu.model import (
    TRAINED_MODEL,
    TRAINING_DATA,
    read_examples,
    train_and_save,
)

app = typer.Typer(
    help="Understanding customers' messages: evaluate, explain, train.", no_args_is_help=True
)


@app.command("eval")
def eval_file(
    file: Path = typer.Argument(..., help="A TSV file: text<TAB>intent<TAB>language."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    show: int = typer.Option(50, "--show", min=0, help="Misses to print."),
) -> None:
    """Accuracy per intent and language, the confusion matrix and the misses."""
    try:
        examples = read_examples(file)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
        return
    report = evaluate(examples)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    console.print(
        f"{report.correct}/{report.total} correct ({report.accuracy:.1%}); "
        + ", ".join(f"{lang} {acc:.1%}" for lang, acc in report.by_language().items())
        + f"; wrongly opted out: {report.false_stops}"
    )
    table = Table("intent", *sorted({lang for lang, _ in report.cells}))
    languages = sorted({lang for lang, _ in report.cells})
    for intent in sorted({intent for _, intent in report.cells}):
        row = []
        for language in languages:
            right, count = report.cells.get((language, intent), [0, 0])
            row.append(f"{right}/{count}" if count else "-")
        table.add_row(intent, *row)
    console.print(table)
    labels = sorted({label for pair in report.confusion for label in pair})
    # columns by the first four letters: the table stays within a terminal's width
    confusion = Table("", *(label[:4] for label in labels))
    for expected in labels:
        confusion.add_row(
            expected,
            *(str(report.confusion.get((expected, got), "")) or "." for got in labels),
        )
    console.print(confusion)
    for miss in report.misses[:show]:
        console.print(
            f"miss [{miss.language}] {miss.expected} -> {miss.got} ({miss.score:.2f}): {miss.text}",
            markup=False,
        )


@app.command("explain")
def explain_text(text: str = typer.Argument(..., help="A message as a customer would send it.")):
    """The normalised text, the intent recognised and the classifier's top three."""
    explanation = explain(text)
    intent = explanation.intent
    console.print(f"normalised: {explanation.normalised}", markup=False)
    how = "by rule" if explanation.exact else "classifier"
    details = {
        key: value
        for key, value in (
            ("account_index", intent.account_index),
            ("account_number", intent.account_number),
            ("code", intent.code),
            ("language", intent.language),
            ("reading", intent.reading),
            ("choice", intent.choice),
        )
        if value is not None
    }
    extra = "".join(f" {key}={value}" for key, value in details.items())
    console.print(
        f"intent: {intent.kind.value} ({how}, score {intent.score:.2f}){extra}", markup=False
    )
    for kind, score in explanation.top:
        console.print(f"  {kind.value:<12} {score:.3f}", markup=False)


@app.command("train")
def train_model() -> None:
    """Train the classifier on the shipped examples (billing_core/conversations/nlu/data/
    train.tsv) and write its weights beside them (model.npz), which every process loads at
    start. Run it after changing the examples, and commit both."""
    started = time.perf_counter()
    trained = train_and_save()
    console.print(
        f"trained on {TRAINING_DATA.name} in {time.perf_counter() - started:.1f} s: "
        f"{len(trained.vocabulary):,} features, {len(trained.labels)} intents -> {TRAINED_MODEL}"
    )
