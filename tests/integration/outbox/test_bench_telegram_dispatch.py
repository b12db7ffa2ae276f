"""`wattdesk bench telegram-dispatch` through the CLI, short: notices to Telegram chats drained
through aiogram to the fake Bot API in its own process, then counted and the closest two
messages to one chat reported (the rate is measured by the command, not checked here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app


def test_notices_drain_whole_and_no_chat_gets_two_within_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATTDESK_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        app, ["bench", "telegram-dispatch", "--count", "60", "--rate", "120"]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    # 60 chats; of the first 40, chat 0 (one in 50, one in 150) gets three notices
    assert "drained 62 notices to 60 chats (1 with two or three)" in text, text
    assert "lost: 0 doubled: 0 (fake API accepted 62, refused 0; outbox rows delivered with a " \
        "provider id: 62, distinct provider ids 62)" in text, text  # fmt: skip
    assert re.search(r"two messages to one chat: closest 1\.\d{3} s, 0 under 1 s", text), text
    assert re.search(r"rate limit 120/s: measured [\d,.]+/s", text), text
    assert (tmp_path / "bench" / "telegram-dispatch-60.sqlite3").exists()
