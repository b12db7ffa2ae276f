"""Units of work travel pickled to the SQLite writer process, each with the conversation
context (and through it the payment context and the arrears rules): everything in it must
pickle, and come back working. A lock in the arrears rules once made every webhook fail."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from billing_core.conversations.service import conversation_context
from billing_core.settings import Settings


def test_the_conversation_context_pickles_and_its_arrears_rules_still_work() -> None:
    context = conversation_context(Settings())
    rules = context.payments.arrears
    assert rules is not None
    when = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)  # 国庆节 in the utility's time zone
    assert not rules.calendar(when).is_working_day(when.astimezone(rules.tz).date())

    again = pickle.loads(pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL))

    assert again == context
    assert again.payments.arrears is not None
    day = when.astimezone(rules.tz).date()
    assert again.payments.arrears.calendar(when).is_working_day(day) is False
