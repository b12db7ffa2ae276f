"""A reply as an SMS: its words, the pay link's URL, and the choices its words do not list as
"Reply 1 for …" lines, within two segments where the templates allow."""

from __future__ import annotations

from billing_core.conversations.model import Reply, reply_text
from billing_core.messages.segments import count_segments
from billing_core.messages.templates import STATES_CHOICES, choice_line

# A reply is written to fit in this many segments; the templates' own words may need more.
MAX_SEGMENTS = 2


def sms_text(reply: Reply) -> str:
    """The SMS for the reply: its plain text (what the conversation keeps), except that a
    choice line its words do not list is left out when it would take the message past
    MAX_SEGMENTS (the first choices are kept). A template's words are never cut."""
    # Only a reply with choices its words do not list has lines to leave out: segments are
    # counted for none of the others (every BILL answer).
    if not reply.choices or reply.template in STATES_CHOICES:
        return reply_text(reply)
    text = reply_text(reply._replace(choices=()))
    for choice in reply.choices:
        longer = text + "\n" + choice_line(reply.language, choice.key, choice.label)
        if count_segments(longer).parts > MAX_SEGMENTS:
            break
        text = longer
    return text
