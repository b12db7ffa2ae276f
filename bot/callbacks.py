"""What an inline button sends back: the conversation layer's command for it ("BILL 2" is
word BILL, argument 2), packed by aiogram's CallbackData factory as "c:BILL:2" (Telegram
allows 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class Press(CallbackData, prefix="c"):
    """A button of ours was pressed: `word` is a `conversations.actions.Command` value."""

    word: str
    arg: str = ""

    @classmethod
    def of(cls, command: str) -> Press:
        """The button data for a command's text ("BILL 2")."""
        word, _, arg = command.strip().partition(" ")
        return cls(word=word.replace(":", ""), arg=arg.strip().replace(":", ""))

    @property
    def command(self) -> str:
        """The command's text again, as the conversation layer reads it."""
        return f"{self.word} {self.arg}" if self.arg else self.word
