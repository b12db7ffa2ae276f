"""Origins as browsers write them (api/csrf.py's `origin_of`), for the staff API's
same-origin check."""

from __future__ import annotations

import pytest

from api.csrf import origin_of


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://Desk.Example.com/", "https://desk.example.com"),
        ("https://desk.example.com:443/pay", "https://desk.example.com"),
        ("http://desk.example.com:80", "http://desk.example.com"),
        ("http://desk.example.com:443", "http://desk.example.com:443"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", None),
        ("file:///tmp/x.html", None),
        ("https://", None),
        ("http://host:99999", None),
        ("javascript:alert(1)", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin
