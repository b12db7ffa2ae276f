"""Twilio request signatures (X-Twilio-Signature): the token a webhook is checked with, the
public URL Twilio signed, checking a request and signing one the way Twilio does (the
simulator and the benchmark sign their requests like Twilio would)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from urllib.parse import parse_qs, urlparse

from twilio.request_validator import RequestValidator, add_port, compare, remove_port

from billing_core.settings import DEMO_TWILIO_AUTH_TOKEN, Environment, Settings

SIGNATURE_HEADER = "X-Twilio-Signature"

FormParams = dict[str, list[str]]


class _MultiValued(dict[str, list[str]]):
    """A form as RequestValidator reads a multi-valued form (Django's QueryDict shape)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def webhook_auth_token(settings: Settings) -> str | None:
    """The token Twilio signs our webhooks with: the configured auth token; in development
    without one, the published demo token. None: refuse every webhook (production without
    a token, which start-up already refuses)."""
    token = settings.twilio_auth_token.get_secret_value()
    if settings.env == Environment.production:
        return token if token and token != DEMO_TWILIO_AUTH_TOKEN else None
    return token or DEMO_TWILIO_AUTH_TOKEN


def public_url(settings: Settings, path: str, query: str = "") -> str:
    """The URL Twilio was given for `path`: behind a TLS-terminating proxy the request we see
    is plain http on another host, but Twilio signed the public https URL."""
    return settings.public_base_url + path + (f"?{query}" if query else "")


def parse_form(body: bytes) -> FormParams:
    """An application/x-www-form-urlencoded body, every value kept (blank and repeated
    ones too: the signature covers them all). Never raises: bytes that are not UTF-8
    become U+FFFD, and then the signature does not match."""
    text = body.decode("utf-8", errors="replace")
    return parse_qs(text, keep_blank_values=True, errors="replace")


def is_signed_by_twilio(*, token: str, url: str, params: FormParams, signature: str | None) -> bool:
    """RequestValidator.validate's answer (tests/unit/sms hold the two equal): the signature
    is Twilio's over the form and the URL with its port or without. validate computes both
    every time; here the URL as configured is tried first and the other only if it fails."""
    if not signature:
        return False
    validator, form = _validator(token), _MultiValued(params)
    return any(
        compare(validator.compute_signature(candidate, form), signature)
        for candidate in _signed_urls(url)
    )


@lru_cache(maxsize=16)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


@lru_cache(maxsize=64)
def _signed_urls(url: str) -> tuple[str, str]:
    """The two URLs validate accepts a signature over, the one equal to `url` first."""
    parsed = urlparse(url)
    with_port, without_port = add_port(parsed), remove_port(parsed)
    return (with_port, without_port) if url == with_port else (without_port, with_port)


def sign(*, token: str, url: str, params: Mapping[str, str | Sequence[str]]) -> str:
    """The X-Twilio-Signature Twilio would send with this form posted to this URL."""
    multi = _MultiValued(
        {name: [value] if isinstance(value, str) else list(value) for name, value in params.items()}
    )
    return str(RequestValidator(token).compute_signature(url, multi))
