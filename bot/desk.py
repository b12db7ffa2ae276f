"""What the bot's handlers ask of the conversation layer, each an update's one unit of work
through the app's runner (as `sms/inbound.py` does), and the answer rendered for the chat.
The middleware (`bot/middleware.py`) gives each handler an `Asking` for its update."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from billing_core.clock import Clock
from billing_core.conversations import actions
from billing_core.conversations.model import InboundMessage, Outcome
from billing_core.conversations.service import ConversationContext, receive_in
from billing_core.db.unit_of_work import UnitOfWorkRunner
from bot.inbound import contact_body, inbound_message
from bot.render import Answer, send_message

log = logging.getLogger("wattdesk.bot")


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
        return self._answer(await desk.units.run(work))

    async def text(self, text: str) -> Answer | None:
        """Free text, through the same recogniser as an SMS."""
        desk = self.desk
        work = functools.partial(
            receive_in, clock=desk.clock, context=desk.context, message=self._message(text)
        )
        return self._answer(await desk.units.run(work))

    async def contact(self, phone: str, *, own: bool) -> Answer | None:
        desk = self.desk
        work = functools.partial(
            actions.receive_contact, clock=desk.clock, context=desk.context,
            message=self._message(contact_body(phone)), phone=phone, own=own,
        )  # fmt: skip
        return self._answer(await desk.units.run(work))

    def _message(self, body: str) -> InboundMessage:
        return inbound_message(
            update_id=self.update_id, user_id=self.user_id, body=body, clock=self.desk.clock
        )

    def _answer(self, outcome: Outcome) -> Answer | None:
        if outcome.duplicate:
            again = "answered as stored" if outcome.reply is not None else "not answered again"
            log.info("telegram update %s: a redelivery, conversation %s; %s", self.update_id,
                     outcome.conversation_id, again)  # fmt: skip
        if outcome.reply is None:
            return None
        return send_message(self.chat_id, outcome.reply)
