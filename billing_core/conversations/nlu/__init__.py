"""Understanding what customers write, in Chinese and English: normalisation, exact commands,
and a classifier for free text (`intents.recognise` is the way in)."""

from __future__ import annotations

from billing_core.conversations.nlu.model import model
from billing_core.conversations.nlu.normalise import normalise


def warm() -> None:
    """Train the classifier and load OpenCC now (at a server's start) rather than on the first
    message, which would otherwise wait for them."""
    model()
    normalise("電")
