"""The outbox policy: `policies/outbox.yaml` (the utility's default send window: the hours
automated messages may go in, for recipients who have not chosen their own)."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing_core.outbox.windows import CONTACT_DEFAULT, SendWindow
from billing_core.policies import DEFAULT_POLICY_DIR, load_policy


class SendWindowPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # local wall-clock [allowed_from, allowed_until); across midnight if the end is earlier;
    # equal: any time
    allowed_from: time = CONTACT_DEFAULT.allowed_from
    allowed_until: time = CONTACT_DEFAULT.allowed_until

    @property
    def window(self) -> SendWindow:
        return SendWindow(self.allowed_from, self.allowed_until)


class OutboxPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    send_window: SendWindowPolicy = SendWindowPolicy()


DEFAULT_OUTBOX_POLICY = OutboxPolicy(version=1, effective_from=date(2025, 1, 1))


def load_outbox_policy(directory: Path = DEFAULT_POLICY_DIR) -> OutboxPolicy:
    return load_policy("outbox", OutboxPolicy, directory)
