"""What a SQLite writer process runs first (`WriterProcess(setup=...)`): it logs as the web
process does, request ids included, and its recogniser is ready before it says so (the
units of work it runs answer messages). Apart from `api.app` so that the writer, which
imports whatever its setup names, does not import the web app (FastAPI, aiogram, the
console): it needs only what its units of work need."""

from __future__ import annotations

from api.logging_setup import configure_logging
from billing_core.conversations.nlu import warm as warm_recogniser
from billing_core.settings import Settings


def prepare_writer(settings: Settings, *, configure_logs: bool) -> None:
    if configure_logs:
        configure_logging(settings)
    warm_recogniser()
