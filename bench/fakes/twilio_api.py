"""A fake Twilio Messages API on loopback. The real twilio client, its base URL pointed here,
creates messages; each gets a unique MessageSid, and every (To, Body) pair is counted so a
test or the benchmark can see a message sent twice. Failures can be scripted per number
(HTTP status and Twilio error code), to exercise retries and opt-outs.

Run in-process (`FakeTwilioApi().start()`) for tests, or as its own process for the
benchmark (`python -m bench.fakes.twilio_api`, which prints its URL and serves until
killed; `GET /_fake/stats` answers the counts)."""

from __future__ import annotations

import argparse
import base64
import json
import re
import ssl
import sys
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT_SID = "AC" + "0" * 30 + "01"
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")
ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})\.json$")
ERROR_TEXT = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    30003: "Unreachable destination handset",
}


@dataclass
class SentMessage:
    sid: str
    to: str
    body: str
    params: dict[str, str]
    at: float


@dataclass
class FakeTwilioApi:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    keep_messages: bool = True  # the benchmark keeps counts only
    messages: list[SentMessage] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    requests: int = 0
    first_at: float | None = None
    last_at: float | None = None
    # To -> failures to answer, in order: (HTTP status, Twilio code or None)
    failures: dict[str, deque[tuple[int, int | None]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    account_status: str = "active"  # what fetching the account answers (the health probe)
    _server: ThreadingHTTPServer | None = None
    _tls: bool = False

    # --- scripting and reading -----------------------------------------------------------

    def fail_next(self, to: str, status: int, code: int | None = None, times: int = 1) -> None:
        with self._lock:
            self.failures.setdefault(to, deque()).extend([(status, code)] * times)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.counts.values() if n > 1)

    def sent_to(self, to: str) -> list[SentMessage]:
        return [m for m in self.messages if m.to == to]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "accepted": sum(self.counts.values()),
                "unique": len(self.counts),
                "duplicates": self.duplicates,
                "first_at": self.first_at,
                "last_at": self.last_at,
                "cpu_seconds": time.process_time(),  # this process's, when run on its own
            }

    # --- the API -------------------------------------------------------------------------

    def create_message(
        self, account_sid: str, params: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        to, body = params.get("To", ""), params.get("Body", "")
        if not to:
            return 400, _error(21604, "A 'To' phone number is required.")
        if not params.get("From") and not params.get("MessagingServiceSid"):
            return 400, _error(21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        now = time.time()
        with self._lock:
            self.requests += 1
            queued = self.failures.get(to)
            if queued:
                status, code = queued.popleft()
                return status, _error(code, ERROR_TEXT.get(code or 0, "Internal error"), status)
            sid = "SM" + uuid.uuid4().hex
            self.counts[(to, body)] += 1
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
            if self.keep_messages:
                self.messages.append(SentMessage(sid, to, body, params, now))
        created = formatdate(now, usegmt=True)
        return 201, {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": params.get("From") or None,
            "messaging_service_sid": params.get("MessagingServiceSid") or None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if params.get("MessagingServiceSid") else "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        }

    def account(self) -> dict[str, Any]:
        """The account resource, as `GET /2010-04-01/Accounts/{sid}.json` answers it."""
        return {
            "sid": self.account_sid,
            "friendly_name": "wattdesk test account",
            "status": self.account_status,
            "type": "Full",
            "owner_account_sid": self.account_sid,
            "date_created": "Mon, 05 Jan 2026 08:00:00 +0000",
            "date_updated": "Mon, 05 Jan 2026 08:00:00 +0000",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}.json",
        }

    # --- the server ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}"

    def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> FakeTwilioApi:
        """Serve on loopback (HTTPS with `tls`, a server context), in a thread."""
        fake = self
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()
        ).decode("ascii")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the client's pool expects
            # One write per response, sent at once: headers and body in separate small
            # segments would meet the client's delayed ACK (40 ms a request).
            wbufsize = 64 * 1024
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                params = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                match = MESSAGES.match(self.path)
                if self.headers.get("Authorization") != expected:
                    self._answer(401, _error(20003, ERROR_TEXT[20003], 401))
                elif match is None:
                    self._answer(404, _error(20404, "The requested resource was not found", 404))
                else:
                    self._answer(*fake.create_message(match["sid"], params))

            def do_GET(self) -> None:
                account = ACCOUNT.match(self.path)
                if self.path == "/_fake/stats":
                    self._answer(200, fake.stats())
                elif account is not None:
                    if self.headers.get("Authorization") != expected:
                        self._answer(401, _error(20003, ERROR_TEXT[20003], 401))
                    elif account["sid"] != fake.account_sid:
                        self._answer(
                            404, _error(20404, "The requested resource was not found", 404)
                        )
                    else:
                        self._answer(200, fake.account())
                else:
                    self._answer(404, _error(20404, "not found", 404))

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        self._tls = tls is not None
        server.daemon_threads = True
        self._server = server
        # A short poll: stop() returns within 50 ms, not the default half second.
        threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-twilio", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _error(code: int | None, message: str, status: int = 400) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
        "status": status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    fake = FakeTwilioApi(keep_messages=False).start(args.port)
    print(fake.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()
        sys.exit(0)


if __name__ == "__main__":
    main()
