"""A fake Telegram Bot API on loopback. The real aiogram client, its session pointed here
(`TelegramAPIServer.from_base(fake.url)`), calls `/bot<token>/<method>`; every call is
recorded (method, parameters, uploaded files, chat, time) and answered as Telegram answers
(`{"ok": true, "result": ...}`), so tests and the benchmark see exactly what was sent.

Failures can be scripted per chat (429 with `retry_after`, 403 "bot was blocked by the user",
400 "chat not found", 5xx), and updates queued for `getUpdates` (`push_update`) to test long
polling. Telegram's limits (about 30 messages a second in all, one a second per chat) are
measured on every message accepted: how many times a chat got two messages less than a second
apart, and the most messages in any one second; with `enforce_limits` a message over either
limit is answered 429, as Telegram would.

Run in-process (`FakeTelegramApi().start()`) for tests, or as its own process for the
benchmark (`python -m bench.fakes.telegram_api`, which prints its URL and serves until
killed; `GET /_fake/stats` answers the counts)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "123456789:AAFakeTelegramTokenForTests_0123456789"
BOT_ID = 123456789
METHOD = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
# The methods that send a message to a chat: what Telegram's limits count.
SENDING = frozenset({"sendmessage", "sendphoto"})
CHAT_INTERVAL = 1.0  # seconds between two messages to one chat
OVERALL_PER_SECOND = 30
DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Call:
    """One request, as the fake understood it."""

    method: str  # as Telegram spells it: sendMessage, sendPhoto …
    params: dict[str, Any]  # JSON-looking values decoded (reply_markup is a dict)
    files: dict[str, tuple[str, bytes]]  # multipart field -> (file name, bytes)
    chat_id: str | None
    at: float
    status: int = 200

    def upload(self, param: str = "photo") -> tuple[str, bytes] | None:
        """The file a parameter attached (`attach://<field>`): its name and bytes."""
        value = self.params.get(param)
        if isinstance(value, str) and value.startswith("attach://"):
            return self.files.get(value.removeprefix("attach://"))
        return self.files.get(param)


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


@dataclass
class FakeTelegramApi:
    token: str = TOKEN
    keep_calls: bool = True  # the benchmark keeps counts and times only
    enforce_limits: bool = False  # answer 429 to a message over Telegram's limits
    calls: list[Call] = field(default_factory=list)
    requests: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # answered with an error (scripted or a limit)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (chat, text) sent
    webhook: dict[str, Any] = field(default_factory=dict)
    # chat -> failures to answer, in order; a blocked chat answers 403 until unblocked
    failures: dict[str, deque[Failure]] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)
    _sent_at: list[float] = field(default_factory=list)  # every accepted message, in order
    _last_by_chat: dict[str, float] = field(default_factory=dict)
    _message_ids: Counter[str] = field(default_factory=Counter)  # per chat, as Telegram's
    chat_gaps_under_interval: int = 0
    min_chat_gap: float | None = None
    _updates: deque[dict[str, Any]] = field(default_factory=deque)
    _next_update_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _updates_ready: threading.Condition = field(init=False)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self._updates_ready = threading.Condition(self._lock)

    # --- scripting and reading -----------------------------------------------------------

    def fail_next(
        self,
        chat_id: int | str,
        status: int,
        *,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls about this chat answer `status` (429: with `retry_after`,
        1 s unless given)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        text = description or DESCRIPTIONS.get(status, "Internal Server Error")
        failure = Failure(status, text.format(retry_after=retry_after), retry_after)
        with self._lock:
            self.failures.setdefault(str(chat_id), deque()).extend([failure] * times)

    def block(self, chat_id: int | str) -> None:
        """The user blocked the bot: every message to the chat is refused with 403."""
        with self._lock:
            self.blocked.add(str(chat_id))

    def unblock(self, chat_id: int | str) -> None:
        with self._lock:
            self.blocked.discard(str(chat_id))

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for `getUpdates` (an `update_id` is given when missing)."""
        with self._updates_ready:
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, int(update["update_id"])) + 1
            self._updates.append(update)
            self._updates_ready.notify_all()
        return update

    def sent(self, chat_id: int | str | None = None) -> list[Call]:
        """The messages accepted (sendMessage, sendPhoto), to one chat or to all."""
        with self._lock:
            return [
                c
                for c in self.calls
                if c.method.lower() in SENDING
                and c.status == 200
                and (chat_id is None or c.chat_id == str(chat_id))
            ]

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method.lower() == method.lower()]

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.counts.values() if n > 1)

    def max_per_second(self) -> int:
        """The most messages accepted in any one-second window."""
        with self._lock:
            times = sorted(self._sent_at)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    def stats(self) -> dict[str, Any]:
        peak = self.max_per_second()
        with self._lock:
            return {
                "requests": self.requests,
                "by_method": dict(self.by_method),
                "accepted": len(self._sent_at),
                "unique": len(self.counts),
                "duplicates": self.duplicates,
                "refused": self.refused,
                "first_at": self._sent_at[0] if self._sent_at else None,
                "last_at": self._sent_at[-1] if self._sent_at else None,
                "chats": len(self._last_by_chat),
                "chat_gaps_under_1s": self.chat_gaps_under_interval,
                "min_chat_gap": self.min_chat_gap,
                "max_per_second": peak,
                "cpu_seconds": time.process_time(),  # this process's, when run on its own
            }

    # --- the API -------------------------------------------------------------------------

    def call(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> tuple[int, dict[str, Any]]:
        """Answer one Bot API call (the handler has checked the token)."""
        now = time.time()
        name = method.lower()
        chat = params.get("chat_id")
        chat_id = None if chat is None else str(chat)
        record = Call(method, params, files, chat_id, now)
        with self._lock:
            self.requests += 1
            self.by_method[method] += 1
            if self.keep_calls:
                self.calls.append(record)
            status, answer = self._answer(name, params, chat_id, now)
            record.status = status
            if status != 200:
                self.refused += 1
        return status, answer

    def _answer(
        self, name: str, params: dict[str, Any], chat_id: str | None, now: float
    ) -> tuple[int, dict[str, Any]]:
        if chat_id is not None:
            queued = self.failures.get(chat_id)
            if queued:
                failure = queued.popleft()
                return failure.status, _error(failure)
            if chat_id in self.blocked and name in SENDING:
                return 403, _error(Failure(403, DESCRIPTIONS[403]))
        if name in SENDING:
            if not chat_id:
                return 400, _error(Failure(400, "Bad Request: chat_id is empty"))
            if name == "sendmessage" and not str(params.get("text") or "").strip():
                return 400, _error(Failure(400, "Bad Request: message text is empty"))
            if self.enforce_limits:
                over = self._over_limits(chat_id, now)
                if over is not None:
                    return 429, _error(over)
            return 200, {"ok": True, "result": self._message(name, params, chat_id, now)}
        if name == "getme":
            return 200, {"ok": True, "result": _bot_user()}
        if name == "setwebhook":
            self.webhook = {
                "url": params.get("url", ""),
                "secret_token": params.get("secret_token"),
                "allowed_updates": params.get("allowed_updates"),
                "drop_pending_updates": params.get("drop_pending_updates"),
            }
            return 200, {"ok": True, "result": True, "description": "Webhook was set"}
        if name == "deletewebhook":
            self.webhook = {}
            if _truthy(params.get("drop_pending_updates")):
                self._updates.clear()
            return 200, {"ok": True, "result": True, "description": "Webhook was deleted"}
        if name == "getwebhookinfo":
            info: dict[str, Any] = {
                "url": self.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self.webhook.get("allowed_updates") is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
            return 200, {"ok": True, "result": info}
        if name == "getupdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        if name in ("answercallbackquery", "sendchataction"):
            return 200, {"ok": True, "result": True}
        if name == "editmessagetext":
            if params.get("inline_message_id"):
                return 200, {"ok": True, "result": True}
            message = {
                "message_id": int(params.get("message_id") or 0),
                "date": int(now),
                "edit_date": int(now),
                "chat": _chat(chat_id or "0"),
                "from": _bot_user(),
                "text": str(params.get("text", "")),
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return 200, {"ok": True, "result": message}
        return 404, _error(Failure(404, "Not Found: method not found"))

    def _over_limits(self, chat_id: str, now: float) -> Failure | None:
        last = self._last_by_chat.get(chat_id)
        if last is not None and now - last < CHAT_INTERVAL:
            return Failure(429, DESCRIPTIONS[429].format(retry_after=1), 1)
        recent = sum(1 for at in self._sent_at[-OVERALL_PER_SECOND:] if now - at < 1.0)
        if recent >= OVERALL_PER_SECOND:
            return Failure(429, DESCRIPTIONS[429].format(retry_after=1), 1)
        return None

    def _message(
        self, name: str, params: dict[str, Any], chat_id: str, now: float
    ) -> dict[str, Any]:
        last = self._last_by_chat.get(chat_id)
        if last is not None:
            gap = now - last
            if gap < CHAT_INTERVAL:
                self.chat_gaps_under_interval += 1
            if self.min_chat_gap is None or gap < self.min_chat_gap:
                self.min_chat_gap = gap
        self._last_by_chat[chat_id] = now
        self._sent_at.append(now)
        self._message_ids[chat_id] += 1
        message: dict[str, Any] = {
            "message_id": self._message_ids[chat_id],
            "date": int(now),
            "chat": _chat(chat_id),
            "from": _bot_user(),
        }
        if name == "sendphoto":
            caption = str(params.get("caption") or "")
            message["photo"] = [
                {
                    "file_id": f"photo-{chat_id}-{message['message_id']}",
                    "file_unique_id": f"u{chat_id}x{message['message_id']}",
                    "width": 800,
                    "height": 450,
                }
            ]
            if caption:
                message["caption"] = caption
            text = caption
        else:
            text = str(params.get("text", ""))
            message["text"] = text
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            # As Telegram: a sent message shows its inline keyboard only (a reply keyboard,
            # the phone button, is the chat's, not the message's).
            message["reply_markup"] = markup
        self.counts[(chat_id, text)] += 1
        return message

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Updates from `offset` on (earlier ones are confirmed and dropped); waits up to
        `timeout` seconds (at most 5 here) for one to come."""
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = min(float(params.get("timeout") or 0), 5.0)
        deadline = time.monotonic() + timeout
        while True:
            while self._updates and offset and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
            if self._updates or timeout <= 0:
                return list(self._updates)[:limit]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._updates_ready.wait(remaining)  # releases the lock while waiting

    # --- the server ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> FakeTelegramApi:
        """Serve on loopback, in a thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as aiohttp's pool expects
            wbufsize = 64 * 1024  # one write per response (see the Twilio fake)
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    body = self._chunked()  # aiohttp streams multipart (a photo) this way
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._handle(body)

            def _chunked(self) -> bytes:
                parts: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()  # the CRLF after each chunk

            def do_GET(self) -> None:
                if self.path == "/_fake/stats":
                    self._answer(200, fake.stats())
                else:
                    self._handle(b"")

            def _handle(self, body: bytes) -> None:
                url = urlsplit(self.path)
                match = METHOD.match(url.path)
                if match is None:
                    self._answer(404, _error(Failure(404, "Not Found")))
                    return
                if match["token"] != fake.token:
                    self._answer(401, _error(Failure(401, DESCRIPTIONS[401])))
                    return
                try:
                    params, files = _parse(self.headers.get("Content-Type", ""), body)
                except ValueError as exc:
                    self._answer(400, _error(Failure(400, f"Bad Request: {exc}")))
                    return
                for key, values in parse_qs(url.query).items():
                    params.setdefault(key, _decoded(values[0]))
                self._answer(*fake.call(match["method"], params, files))

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
        server.daemon_threads = True
        self._server = server
        threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-telegram", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _parse(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """A Bot API request's parameters, as the real API takes them: JSON, a URL-encoded form,
    or multipart (files). Values that are JSON (reply_markup, allowed_updates) are decoded."""
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return {}, {}
    if kind == "application/json":
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("the body is not a JSON object")
        return data, {}
    if kind == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        if not message.is_multipart():
            raise ValueError("a multipart body without parts")
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            content = part.get_payload(decode=True)
            raw = content if isinstance(content, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                files[name] = (filename, raw)
            else:
                params[name] = _decoded(raw.decode("utf-8"))
        return params, files
    form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    return {key: _decoded(values[0]) for key, values in form.items()}, {}


def _decoded(value: str) -> Any:
    """A form value that is a JSON object or array (as aiogram sends reply_markup) decoded;
    anything else as the string it is."""
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _chat(chat_id: str) -> dict[str, Any]:
    try:
        numeric: int | str = int(chat_id)
    except ValueError:
        numeric = chat_id
    return {"id": numeric, "type": "private", "first_name": f"User {chat_id}"}


def _bot_user() -> dict[str, Any]:
    return {
        "id": BOT_ID,
        "is_bot": True,
        "first_name": "wattdesk",
        "username": "wattdesk_bot",
        "can_join_groups": False,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def _error(failure: Failure) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "ok": False,
        "error_code": failure.status,
        "description": failure.description,
    }
    if failure.retry_after is not None:
        answer["parameters"] = {"retry_after": failure.retry_after}
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--enforce-limits", action="store_true", help="Answer 429 to messages over the limits."
    )
    args = parser.parse_args()
    fake = FakeTelegramApi(keep_calls=False, enforce_limits=args.enforce_limits).start(args.port)
    print(fake.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()
        sys.exit(0)


if __name__ == "__main__":
    main()
