"""What the bot's handlers ask of the conversation layer, each an update's one unit of work
through the app's runner (as `sms/inbound.py` does), and the answer rendered for the chat.
The middleware (`bot/middleware.py`) gives each handler an `Asking` for its update.

The answer is rendered inside the unit of work (`answered`), where the unit runs: on SQLite
the writer process, so the web process is handed the response's JSON rather than an outcome
to unpickle and build aiogram's models from (about a fifth of its CPU for a "my bill")."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.conversations import actions
from billing_core.conversations.model import InboundMessage, Outcome
from billing_core.conversations.service import ConversationContext, receive_in
from billing_core.db.unit_of_work import UnitOfWorkRunner
from bot.inbound import contact_body, inbound_message
from bot.render import Answer

log = logging.getLogger("wattdesk.bot")


class Answered(NamedTuple):
    """What a unit of work hands back to the web process: the answer rendered, and what the
    log needs of its outcome."""

    answer: Answer | None  # None: the bot stays silent
    conversation_id: int
    duplicate: bool


def answered(session: Session, *, work: Callable[[Session], Outcome], chat_id: int) -> Answered:
    """`work`'s outcome with its reply rendered for the chat: a unit of work (module-level,
    so that it pickles). The rendering is pure; were it ever to fail, the message and its
    reply are stored all the same and the chat is answered nothing now (an error logged),
    rather than the whole unit failing and Telegram redelivering the update for ever."""
    outcome = work(session)
    answer = None
    if outcome.reply is not None:
        try:
            answer = Answer.of(chat_id, outcome.reply)
        except Exception:
            log.exception("telegram: the reply %r could not be rendered", outcome.reply.template)
    return Answered(answer, outcome.conversation_id, outcome.duplicate)


@dataclass(frozen=True)
class Desk:
    """The app's parts the handlers need (from its container)."""

    units: UnitOfWorkRunner
    clock: Clock
    context: ConversationContext
    tariff_dir: Path | None = None


@dataclass(frozen=True)
class Asking:
    """One update's sender and chat, and the three things it can ask: a command (a button or
    a bot command), free text, a shared contact. Each returns the answer as the Bot API call
    to make (None: the bot stays silent)."""

    desk: Desk
    update_id: int
    user_id: int
    chat_id: int

    async def command(self, command: str) -> Answer | None:
        desk = self.desk
        work = functools.partial(
            actions.receive_command, clock=desk.clock, context=desk.context,
            message=self._message(command), tariff_dir=desk.tariff_dir,
        )  # fmt: skip
        return await self._answer(work)

    async def text(self, text: str) -> Answer | None:
        """Free text, through the same recogniser as an SMS."""
        desk = self.desk
        work = functools.partial(
            receive_in, clock=desk.clock, context=desk.context, message=self._message(text)
        )
        return await self._answer(work)

    async def contact(self, phone: str, *, own: bool) -> Answer | None:
        desk = self.desk
        work = functools.partial(
            actions.receive_contact, clock=desk.clock, context=desk.context,
            message=self._message(contact_body(phone)), phone=phone, own=own,
        )  # fmt: skip
        return await self._answer(work)

    def _message(self, body: str) -> InboundMessage:
        return inbound_message(
            update_id=self.update_id, user_id=self.user_id, body=body, clock=self.desk.clock
        )

    async def _answer(self, work: Callable[[Session], Outcome]) -> Answer | None:
        unit = functools.partial(answered, work=work, chat_id=self.chat_id)
        outcome = await self.desk.units.run(unit)
        if outcome.duplicate:
            again = "answered as stored" if outcome.answer is not None else "not answered again"
            log.info("telegram update %s: a redelivery, conversation %s; %s", self.update_id,
                     outcome.conversation_id, again)  # fmt: skip
        return outcome.answer
