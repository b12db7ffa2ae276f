"""The twilio client's HTTP layer chooses its proxy and charset as `requests` would."""

from __future__ import annotations

import pytest
import urllib3

from sms.twilio_http import _charset, _pool_manager


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_without_proxy_variables_the_pool_connects_directly() -> None:
    pool = _pool_manager("https://api.twilio.com")
    assert type(pool) is urllib3.PoolManager


def test_the_https_proxy_of_the_environment_is_used_for_twilio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    pool = _pool_manager("https://api.twilio.com")
    assert isinstance(pool, urllib3.ProxyManager)
    assert pool.proxy is not None and pool.proxy.host == "proxy.internal"
    # An HTTP proxy variable does not apply to an HTTPS base URL.
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    assert type(_pool_manager("https://api.twilio.com")) is urllib3.PoolManager


def test_no_proxy_keeps_twilio_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.twilio.com")
    assert type(_pool_manager("https://api.twilio.com")) is urllib3.PoolManager


@pytest.mark.parametrize(
    ("content_type", "charset"),
    [
        ("application/json", "utf-8"),
        (None, "utf-8"),
        ("application/json; charset=utf-8", "utf-8"),
        ('text/plain; charset="ISO-8859-1"', "iso8859-1"),
        ("text/plain;charset=gbk", "gbk"),
        ("text/plain; charset=no-such-charset", "utf-8"),
    ],
)
def test_the_answer_is_decoded_with_the_charset_it_names(
    content_type: str | None, charset: str
) -> None:
    assert _charset(content_type) == charset
