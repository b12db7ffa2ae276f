"""The SMS channel's probe (channel health, billing_core/health): fetch our own Twilio account
with the twilio client, over the same HTTP client the transport sends through
(sms/twilio_http.py), so the probe checks what sending needs: Twilio answers, our credentials
are accepted, the account is active. Without credentials (the offline transport of the
embedded default) the channel is reported offline, not failing."""

from __future__ import annotations

import time

import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from billing_core.health.model import Probe, ProbeResult, ProbeStatus
from billing_core.settings import Settings
from sms.twilio_http import TWILIO_API_BASE, Urllib3HttpClient

CHANNEL = "sms"


class TwilioProbe:
    """Fetches the account (`GET /2010-04-01/Accounts/{sid}.json`); ok when it is active."""

    channel = CHANNEL
    provider = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base: str = TWILIO_API_BASE,
        timeout: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        self._client = Client(
            account_sid,
            auth_token,
            http_client=Urllib3HttpClient(api_base, timeout),
            environment={},  # never TWILIO_* from the environment: settings only
        )

    def __repr__(self) -> str:  # never the token
        return f"TwilioProbe(account_sid={self.account_sid!r})"

    def __call__(self) -> ProbeResult:
        started = time.perf_counter()

        def result(status: ProbeStatus, detail: str) -> ProbeResult:
            elapsed = (time.perf_counter() - started) * 1000
            return ProbeResult(self.channel, self.provider, status, elapsed, detail[:300])

        try:
            account = self._client.api.v2010.accounts(self.account_sid).fetch()
        except TwilioRestException as exc:
            refused = " (credentials refused)" if int(exc.status) in (401, 403) else ""
            return result(ProbeStatus.failing, f"HTTP {exc.status}{refused}: {exc.msg}")
        except (urllib3.exceptions.HTTPError, TwilioException) as exc:
            return result(ProbeStatus.failing, f"no answer: {type(exc).__name__}: {exc}")
        if account.status != "active":
            return result(ProbeStatus.failing, f"account {account.status}")
        return result(ProbeStatus.ok, "account active")


class OfflineSmsProbe:
    """The embedded default: SMS go to the offline transport, nothing to ask."""

    channel = CHANNEL
    provider = "offline"

    def __call__(self) -> ProbeResult:
        detail = "no Twilio credentials: messages go to the offline transport"
        return ProbeResult(self.channel, self.provider, ProbeStatus.offline, None, detail)


def sms_probe(settings: Settings, *, timeout: float = 10.0) -> Probe:
    """Twilio's probe when it is configured (as the transport is), the offline one otherwise."""
    if settings.twilio_configured:
        return TwilioProbe(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            api_base=settings.twilio_api_base,
            timeout=timeout,
        )
    return OfflineSmsProbe()
