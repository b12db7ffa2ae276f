"""The real twilio client over our urllib3 HTTP layer, against servers on loopback: what it
sends (form, basic auth, query, JSON), one kept-alive connection per sending thread, and how
each kind of failure reaches the dispatcher."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from twilio.rest import Client

from bench.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioApi
from billing_core.outbox.transport import Claimed, Outcome
from sms.transport import TwilioTransport
from sms.twilio_http import Urllib3HttpClient

FROM = "+15005550006"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioApi]:
    fake = FakeTwilioApi().start()
    yield fake
    fake.stop()


def to_port(port: int, timeout: float) -> TwilioTransport:
    return TwilioTransport(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM,
                           api_base=f"http://127.0.0.1:{port}", timeout=timeout)  # fmt: skip


def claimed(to: str, body: str, id: int = 1) -> Claimed:
    return Claimed(id=id, channel="sms", recipient=to, body=body, kind="reply",
                   template="t", segments=1, attempts=1)  # fmt: skip


def test_a_message_arrives_with_its_form_fields_and_chinese_body(
    fake_twilio: FakeTwilioApi,
) -> None:
    transport = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM, api_base=fake_twilio.url,
        status_callback="https://desk.example.com/sms/twilio/status?site=bj&x=1",
    )  # fmt: skip
    body = "您好 李娜：本期电费 ¥128.50，请于 12月15日 前缴清。& = + %"
    result = transport.send(claimed("+8613800000001", body))
    assert result.outcome is Outcome.sent
    [sent] = fake_twilio.messages
    assert result.provider_id == sent.sid
    assert sent.body == body
    assert sent.params["From"] == FROM
    assert sent.params["StatusCallback"] == "https://desk.example.com/sms/twilio/status?site=bj&x=1"


def test_a_messaging_service_is_sent_instead_of_a_number(fake_twilio: FakeTwilioApi) -> None:
    transport = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=fake_twilio.url,
        messaging_service_sid="MG" + "1" * 32,
    )  # fmt: skip
    assert transport.send(claimed("+8613800000002", "hi")).outcome is Outcome.sent
    [sent] = fake_twilio.messages
    assert sent.params["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in sent.params


def test_a_sending_thread_keeps_one_connection(fake_twilio: FakeTwilioApi) -> None:
    transport = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM, api_base=fake_twilio.url
    )
    for i in range(5):
        assert transport.send(claimed(f"+86138000001{i:02d}", "hi", i)).outcome is Outcome.sent
    http = transport.client().http_client
    assert isinstance(http, Urllib3HttpClient)
    assert http.pool.connection_from_url(fake_twilio.url).num_connections == 1
    assert len(fake_twilio.messages) == 5


def test_wrong_credentials_are_retried_later_not_failed(fake_twilio: FakeTwilioApi) -> None:
    transport = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token="wrong", from_=FROM, api_base=fake_twilio.url
    )
    result = transport.send(claimed("+8613800000003", "hi"))
    assert (result.outcome, result.error_code) == (Outcome.transient, "20003")
    assert fake_twilio.messages == []


def test_an_unreachable_api_is_a_network_failure_to_retry() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = to_port(port, timeout=2).send(claimed("+8613800000004", "hi"))
    assert (result.outcome, result.error_code) == (Outcome.transient, "network")


def test_an_api_that_never_answers_times_out_as_a_network_failure() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the connection, never reads or answers
        result = to_port(silent.getsockname()[1], timeout=0.3).send(claimed("+8613800000005", "hi"))
    assert (result.outcome, result.error_code) == (Outcome.transient, "network")
    assert "timed out" in result.detail.lower()


# --- the HttpClient interface, for the library's other APIs ---------------------------------


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = {
            "method": self.command,
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "authorization": self.headers.get("Authorization"),
            "body": self.rfile.read(length).decode(),
            "note": "café",
        }
        data = json.dumps(payload, ensure_ascii=False).encode("latin-1", errors="replace")
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=ISO-8859-1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_query_parameters_json_bodies_and_the_answers_charset(echo: str) -> None:
    http = Urllib3HttpClient(echo, timeout=5)
    answer = http.request(
        "get", "https://api.twilio.com/2010-04-01/Accounts.json",
        params={"PageSize": 2, "To": ["+1", "+2"]}, auth=("AC1", "secret"),
    )  # fmt: skip
    seen = json.loads(answer.text)
    assert answer.status_code == 200
    assert seen["method"] == "GET"
    assert seen["path"] == "/2010-04-01/Accounts.json?PageSize=2&To=%2B1&To=%2B2"
    assert seen["authorization"] == "Basic QUMxOnNlY3JldA=="
    assert seen["note"] == "café"  # decoded as the ISO-8859-1 it said it was
    answer = http.request(
        "POST", "https://api.twilio.com/v1/Things",
        data={"a": [1, 2], "b": "ü"}, headers={"Content-Type": "application/json"},
    )  # fmt: skip
    seen = json.loads(answer.text)
    assert seen["content_type"] == "application/json"
    assert json.loads(seen["body"]) == {"a": [1, 2], "b": "ü"}


def test_the_library_reads_errors_through_it(fake_twilio: FakeTwilioApi) -> None:
    """The twilio client, given this HTTP client, raises its own exception for a 4xx."""
    from twilio.base.exceptions import TwilioRestException

    fake_twilio.fail_next("+8613800000006", 400, 21211)
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=Urllib3HttpClient(fake_twilio.url),
                    environment={})  # fmt: skip
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to="+8613800000006", from_=FROM, body="hi")
    assert (raised.value.status, raised.value.code) == (400, 21211)


# --- over TLS, as to api.twilio.com ----------------------------------------------------------


@pytest.fixture
def tls_twilio(tmp_path: Path) -> Iterator[tuple[FakeTwilioApi, Path]]:
    """The fake API over HTTPS, with a certificate from a test CA (whose PEM file is given)."""
    import ssl

    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    fake = FakeTwilioApi().start(tls=context)
    yield fake, bundle
    fake.stop()


def test_over_tls_the_certificate_is_checked_against_the_ca_bundle_configured(
    tls_twilio: tuple[FakeTwilioApi, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, bundle = tls_twilio
    assert fake.url.startswith("https://")
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)

    def transport() -> TwilioTransport:  # each reads the environment when it first sends
        return TwilioTransport(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM,
                               api_base=fake.url, timeout=5)  # fmt: skip

    # certifi's bundle does not know the test CA: refused, to be tried again later
    refused = transport().send(claimed("+8613800000007", "hi"))
    assert (refused.outcome, refused.error_code) == (Outcome.transient, "network")
    assert "CERTIFICATE_VERIFY_FAILED" in refused.detail
    assert fake.messages == []
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    sent = transport().send(claimed("+8613800000007", "您好"))
    assert sent.outcome is Outcome.sent
    assert [(m.to, m.body) for m in fake.messages] == [("+8613800000007", "您好")]


class ConnectProxy:
    """An HTTP proxy on loopback that tunnels CONNECT requests (as a corporate proxy to
    api.twilio.com would), remembering where each went."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.tunnels: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(4096)
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        sink.close()


def test_through_the_environments_https_proxy_the_message_goes_by_a_tunnel(
    tls_twilio: tuple[FakeTwilioApi, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, bundle = tls_twilio
    proxy = ConnectProxy()
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    try:
        transport = TwilioTransport(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM,
                                    api_base=fake.url, timeout=5)  # fmt: skip
        assert transport.send(claimed("+8613800000008", "hi")).outcome is Outcome.sent
    finally:
        proxy.close()
    assert proxy.tunnels == [fake.url.removeprefix("https://")]
    assert [m.to for m in fake.messages] == ["+8613800000008"]
