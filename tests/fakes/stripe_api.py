"""A fake Stripe API on loopback, and Stripe events signed the way stripe-python's own
tests sign them. The real stripe client, with its API base pointed here, creates Checkout
Sessions; each request is kept so tests can check what the client sent."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import stripe

WEBHOOK_SECRET = "whsec_test_wattdesk_0123456789abcdef"
API_KEY = "sk_test_wattdesk_0123456789"


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]  # the form body, decoded into nested dicts and lists


@dataclass
class FakeStripeApi:
    """`POST /v1/checkout/sessions` answered with a realistic Checkout Session object."""

    api_key: str = API_KEY
    requests: list[ReceivedRequest] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripeApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                params = nest(parse_qsl(body, keep_blank_values=True))
                fake.requests.append(
                    ReceivedRequest("POST", self.path, dict(self.headers.items()), params)
                )
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._answer(401, _error("Invalid API Key provided."))
                elif self.path == "/v1/checkout/sessions":
                    self._answer(200, fake.create_session(params))
                else:
                    self._answer(404, _error(f"Unrecognized request URL (POST: {self.path})."))

            def do_GET(self) -> None:
                fake.requests.append(
                    ReceivedRequest("GET", self.path, dict(self.headers.items()), {})
                )
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._answer(401, _error("Invalid API Key provided."))
                elif self.path == "/v1/account":
                    self._answer(200, fake.account())
                else:
                    self._answer(404, _error(f"Unrecognized request URL (GET: {self.path})."))

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet in test output

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll: stop() returns within 50 ms, not the default half second.
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def account(self) -> dict[str, Any]:
        """The key's own account, as `GET /v1/account` answers it (the health probe)."""
        return {
            "id": "acct_1WattdeskTest00",
            "object": "account",
            "charges_enabled": True,
            "payouts_enabled": True,
            "country": "CN",
            "default_currency": "cny",
            "type": "standard",
        }

    def create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        session_id = f"cs_test_{uuid.uuid4().hex}{uuid.uuid4().hex[:26]}"
        total = sum(
            int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1))
            for item in params.get("line_items", [])
        )
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": int(time.time()),
            "currency": params["line_items"][0]["price_data"]["currency"],
            "customer": None,
            "expires_at": int(params.get("expires_at") or time.time() + 86400),
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "mode": params.get("mode"),
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
        }
        self.sessions[session_id] = session
        return session


def _error(message: str) -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "message": message}}


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`line_items[0][price_data][currency]=cny` → {"line_items": [{"price_data": {...}}]}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


# --- events, as Stripe sends them -----------------------------------------------------------


def checkout_event(
    kind: str,
    session: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A `checkout.session.*` event about `session` (as the fake created it), with the
    session's fields changed as the event implies, then by `changes`."""
    paid = kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded")
    obj = {
        **session,
        "status": "expired" if kind == "checkout.session.expired" else "complete",
        "payment_status": "paid" if paid else "unpaid",
        "payment_intent": f"pi_test_{uuid.uuid4().hex[:24]}",
        **changes,
    }
    return {
        "id": event_id or f"evt_test_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2)  # Stripe's webhook bodies are pretty-printed JSON


def sign(
    payload: str,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> str:
    """The Stripe-Signature header, as stripe-python's tests/test_webhook.py builds it:
    `t=<timestamp>,v1=<HMAC-SHA256 of "<timestamp>.<payload>" with the secret>`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    if signature is None:
        return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return f"t={timestamp},{stripe.WebhookSignature.EXPECTED_SCHEME}={signature}"
