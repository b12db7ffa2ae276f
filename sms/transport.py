"""Outbound SMS transports for the outbox dispatcher: Twilio through its own client library,
and the offline transport of the embedded default (no credentials: messages are "delivered"
to the built-in simulator, which reads them from the outbox and conversation tables).

A transport turns the provider's answer into an `Outcome`: accepted, worth another try
(5xx, 429, an unreachable handset, the network), never going to work (a 4xx such as an
invalid number), or opted out (Twilio error 21610)."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from billing_core.outbox.transport import Claimed, Outcome, SendResult
from sms.twilio_http import TWILIO_API_BASE, Urllib3HttpClient

log = logging.getLogger("wattdesk.sms.transport")

STATUS_PATH = "/sms/twilio/status"
# Twilio error codes (https://www.twilio.com/docs/api/errors).
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
INVALID_NUMBER = 21211
# Worth another try: queue overflow, unreachable handset, unknown error (may clear), and
# Twilio's own rate limit and authentication hiccups (a bad token is fixed by an operator,
# not by failing every queued notice: they wait, with backoff, and the error is logged).
TRANSIENT_CODES = frozenset({20003, 20429, 30001, 30003, 30008})


def classify_twilio_error(status: int, code: int | None) -> Outcome:
    """Which kind of failure a Twilio API error is."""
    if code == OPTED_OUT:
        return Outcome.opted_out
    if status == 429 or status >= 500 or (code is not None and code in TRANSIENT_CODES):
        return Outcome.transient
    if status in (401, 403):
        return Outcome.transient
    return Outcome.permanent


class TwilioTransport:
    """Sends through Twilio's Messages API with the `twilio` library, over urllib3
    (sms/twilio_http.py; one client and one connection pool per sending thread). Safe to
    share between threads."""

    channel = "sms"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_: str = "",
        messaging_service_sid: str = "",
        api_base: str = TWILIO_API_BASE,
        status_callback: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("Twilio needs an account SID and an auth token")
        if not from_ and not messaging_service_sid:
            raise ValueError("Twilio needs a sending number or a messaging service")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_ = from_
        self.messaging_service_sid = messaging_service_sid
        self.api_base = api_base
        self.status_callback = status_callback
        self.timeout = timeout
        # The rate limit is per sender: a messaging service spreads over its numbers.
        self.sender = messaging_service_sid or from_
        self._local = threading.local()

    def __repr__(self) -> str:  # never the token
        return f"TwilioTransport(account_sid={self.account_sid!r}, sender={self.sender!r})"

    def client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = Client(
                self.account_sid,
                self._auth_token,
                http_client=Urllib3HttpClient(self.api_base, self.timeout),
                environment={},  # never TWILIO_* from the environment: settings only
            )
            self._local.client = client
        return client

    def send(self, message: Claimed) -> SendResult:
        fields: dict[str, Any] = {"to": message.recipient, "body": message.body}
        if self.messaging_service_sid:
            fields["messaging_service_sid"] = self.messaging_service_sid
        else:
            fields["from_"] = self.from_
        if self.status_callback:
            fields["status_callback"] = self.status_callback
        try:
            created = self.client().messages.create(**fields)
        except TwilioRestException as exc:
            outcome = classify_twilio_error(int(exc.status), exc.code)
            if int(exc.status) in (401, 403):
                log.error("Twilio refused our credentials (%s): check WATTDESK_TWILIO_*", exc.code)
            return SendResult(
                outcome,
                error_code=str(exc.code or exc.status),
                detail=f"HTTP {exc.status}: {exc.msg}"[:400],
            )
        except (urllib3.exceptions.HTTPError, TwilioException) as exc:
            # A timeout is ambiguous (Twilio may have accepted it): retried, at least once.
            return SendResult(Outcome.transient, error_code="network", detail=repr(exc)[:400])
        return SendResult(Outcome.sent, provider_id=created.sid)


class OfflineTransport:
    """The embedded default without Twilio credentials (refused in production): every
    message counts as delivered at once, with a provider id `offline-…`. The simulator shows
    outbound messages from the outbox and conversation tables."""

    channel = "sms"
    sender = "offline"

    def send(self, message: Claimed) -> SendResult:
        log.debug("offline SMS %d: %d segment(s)", message.id, message.segments)
        return SendResult(Outcome.delivered, provider_id=f"offline-{uuid.uuid4().hex}")
