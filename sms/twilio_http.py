"""The HTTP client the twilio library sends through: its `HttpClient` interface on urllib3
(connection pooling, TLS, proxies), without the `requests` layer the library's default
client adds on top of urllib3.

Why: the dispatcher spends its CPU in the HTTP path of each `messages.create`, and much of
that was `requests` preparing, merging settings and hooks for a form POST whose shape never
changes (measured with `wattdesk bench dispatch`). The twilio client above is unchanged: the
same URLs, headers, form encoding, basic auth and error handling (a 4xx/5xx still raises
`TwilioRestException` from the library).

Network failures raise `urllib3.exceptions.HTTPError` (a connection refused or reset, a
timeout); the transport treats them as transient. Nothing is retried here: a POST that may
have reached Twilio is retried by the outbox, with its backoff, never twice in a row."""

from __future__ import annotations

import codecs
import json
import logging
import os
import urllib.request
from urllib.parse import urlencode

import certifi
import urllib3
from twilio.http import HttpClient
from twilio.http.response import Response

TWILIO_API_BASE = "https://api.twilio.com"
JSON_TYPES = ("application/json", "application/scim+json")


def _pool_manager(api_base: str) -> urllib3.PoolManager:
    """A pool for `api_base`, through the proxy the environment names for it (read once,
    as `requests` would on every request), verifying TLS against `requests`' CA bundle or
    the one the environment names."""
    ca_certs = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or certifi.where()
    )
    scheme = api_base.split("://", 1)[0]
    host = urllib3.util.parse_url(api_base).host or ""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        return urllib3.ProxyManager(proxy, maxsize=4, ca_certs=ca_certs)
    return urllib3.PoolManager(maxsize=4, ca_certs=ca_certs)


class Urllib3HttpClient(HttpClient):
    """Twilio's `HttpClient` on a urllib3 pool. What the library addresses to
    https://api.twilio.com goes to `api_base` instead (Twilio's suggested way to point the
    client at a test server). Thread-safe; one per sending thread keeps its connection."""

    def __init__(
        self,
        api_base: str = TWILIO_API_BASE,
        timeout: float = 30.0,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(logger or logging.getLogger("wattdesk.sms.twilio_http"), False, timeout)
        self.api_base = api_base.rstrip("/")
        self.pool = _pool_manager(self.api_base)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is None:
            timeout = self.timeout
        elif timeout <= 0:
            raise ValueError(timeout)
        if self.api_base != TWILIO_API_BASE and uri.startswith(TWILIO_API_BASE):
            uri = self.api_base + uri[len(TWILIO_API_BASE) :]
        if params:
            uri += ("&" if "?" in uri else "?") + urlencode(params, doseq=True)
        sent = dict(headers or {})
        body: bytes | None = None
        if data is not None:
            if sent.get("Content-Type") in JSON_TYPES:
                body = json.dumps(data).encode()
            else:
                body = urlencode(data, doseq=True).encode()
                sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if auth is not None:
            sent.update(urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
        if self.logger.isEnabledFor(logging.INFO):  # the library's format, without the auth
            self.log_request({"method": method.upper(), "url": uri, "params": None,
                              "headers": headers})  # fmt: skip
        answer = self.pool.request(
            method.upper(),
            uri,
            body=body,
            headers=sent,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            redirect=allow_redirects,
        )
        if self.logger.isEnabledFor(logging.INFO):
            self.log_response(answer.status, answer)
        text = answer.data.decode(_charset(answer.headers.get("Content-Type")), errors="replace")
        return Response(answer.status, text, dict(answer.headers))


def _charset(content_type: str | None) -> str:
    """The charset a Content-Type names, if Python knows it; UTF-8 (Twilio's) otherwise."""
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                return codecs.lookup(value.strip('"')).name
            except LookupError:
                break
    return "utf-8"
