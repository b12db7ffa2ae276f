"""100 MB bodies against a running server (the embedded default: SQLite, uvicorn, the
SQLite writer process): each webhook answers 413, chunked or with a Content-Length, while
the server's memory (its processes' resident set) grows by no more than a few MB and
/healthz keeps answering within a second.

The client is a plain socket, as an attacker's would be: it streams the body from a
generator and stops when the answer arrives (an HTTP client library sends the whole body
before it reads an answer)."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import RunningServer, start_server, stop_server

pytestmark = pytest.mark.e2e

WEBHOOKS = ("/sms/twilio/inbound", "/sms/twilio/status", "/payments/stripe/webhook")
TOTAL = 100 * 1024 * 1024
PIECE = 64 * 1024
MAX_GROWTH_KB = 20 * 1024
HEALTHZ_WITHIN = 1.0  # seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("huge-bodies")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTDESK_")}
    env["WATTDESK_DATA_DIR"] = str(data_dir)
    subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "upgrade"], cwd=data_dir, env=env, check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    running = start_server(["serve"], data_dir)
    yield running
    stop_server(running)


def pieces() -> Iterator[bytes]:
    """The body: 100 MB, made as it is sent."""
    piece = b"a=" + b"x" * (PIECE - 2)
    for _ in range(TOTAL // PIECE):
        yield piece


def send_huge(base_url: str, path: str, *, chunked: bool) -> int:
    """POST a 100 MB body from `pieces()`; the status of the answer, read as soon as there is
    one (the rest of the body is then not sent)."""
    parts = urlsplit(base_url)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {TOTAL}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "X-Twilio-Signature: bm90LWEtc2lnbmF0dXJl\r\nStripe-Signature: t=1,v1=00\r\n"
        f"{framing}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for piece in pieces():
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while a piece was on its way
        answer = b""
        while b"\r\n" not in answer:
            received = sock.recv(4096)
            if not received:
                break
            answer += received
    status_line = answer.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith("HTTP/1.1 "), (path, chunked, answer[:200])
    return int(status_line.split()[1])


def rss_kb(pid: int) -> int:
    """Resident memory of the process and its descendants (the SQLite writer process)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except FileNotFoundError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        for task in Path(f"/proc/{current}/task").iterdir():
            children = (task / "children").read_text().split()
            pending.extend(int(child) for child in children)
    return total


def test_huge_bodies_are_refused_without_growing_the_server_or_stalling_healthz(
    server: RunningServer,
) -> None:
    # Warm up first: what the first requests load (modules, caches) is not what a body costs.
    for _ in range(3):
        for path in WEBHOOKS:
            httpx.post(server.base_url + path, content=b"a=1", timeout=10)
        httpx.get(server.base_url + "/healthz", timeout=10)
    baseline = rss_kb(server.process.pid)

    peak = baseline
    healthz: list[float] = []
    problems: list[str] = []
    done, watching = threading.Event(), threading.Event()

    def watch() -> None:
        nonlocal peak
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            while not done.is_set():
                started = time.monotonic()
                try:
                    status = client.get("/healthz").status_code
                except httpx.HTTPError as exc:
                    status = repr(exc)  # type: ignore[assignment]
                healthz.append(time.monotonic() - started)
                if status != 200:
                    problems.append(f"/healthz: {status}")
                peak = max(peak, rss_kb(server.process.pid))
                watching.set()
                time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert watching.wait(timeout=10)
    try:
        cases = [(path, chunked) for path in WEBHOOKS for chunked in (True, False)] * 3
        with ThreadPoolExecutor(len(cases) // 3) as pool:  # six bodies at a time
            statuses = list(
                pool.map(lambda case: send_huge(server.base_url, case[0], chunked=case[1]), cases)
            )
    finally:
        done.set()
        watcher.join(timeout=30)
    peak = max(peak, rss_kb(server.process.pid))

    assert statuses == [413] * len(cases), list(zip(cases, statuses, strict=True))
    assert healthz and not problems, problems
    assert max(healthz) < HEALTHZ_WITHIN, max(healthz)
    assert peak - baseline < MAX_GROWTH_KB, (baseline, peak)
    assert httpx.get(server.base_url + "/healthz", timeout=HEALTHZ_WITHIN).status_code == 200
