"""`wattdesk messages check`: passes on the shipped catalogues, and lists each SMS over two
segments (exit 1) when the pay links' address would make them too long."""

from __future__ import annotations

from typer.testing import CliRunner

from api.cli import app


def test_the_shipped_catalogues_pass() -> None:
    result = CliRunner().invoke(app, ["messages", "check", "--base-url", "https://pay.wattdesk.cn"])
    assert result.exit_code == 0, result.output
    assert "messages in every language" in result.output


def test_a_long_pay_link_address_fails_the_check_naming_each_message() -> None:
    base = "https://payments.customer-service.example-electricity-utility.com.cn/wattdesk"
    result = CliRunner().invoke(app, ["messages", "check", "--base-url", base])
    assert result.exit_code == 1
    assert "bill_notice (zh-CN): 3 segments" in result.output
