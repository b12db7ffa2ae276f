"""A running wattdesk server, started the way an operator starts it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen[str]
    data_dir: Path
    seconds_to_healthy: float

    def log(self) -> str:
        """What the server printed so far (its JSON log lines)."""
        return (self.data_dir / "server.log").read_text(errors="replace")


def start_server(
    args: list[str],
    data_dir: Path,
    timeout: float = 60.0,
    *,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> RunningServer:
    """`port` and `extra_env` for a server restarted as it was (signed URLs name the port)."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTDESK_")}
    env.update({"WATTDESK_DATA_DIR": str(data_dir), "WATTDESK_LOG_FORMAT": "json"})
    env.update(extra_env or {})
    started = time.monotonic()
    # Its output goes to a file (a pipe nobody reads would fill and stall the server's logging).
    with (data_dir / "server.log").open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args, "--port", str(port)],
            env=env,
            cwd=data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            output = (data_dir / "server.log").read_text()
            raise AssertionError(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return RunningServer(base_url, process, data_dir, time.monotonic() - started)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"/healthz did not answer within {timeout} s")


def stop_server(server: RunningServer) -> str:
    """Stop the server; what it printed."""
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    return server.log()


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(["demo"], tmp_path_factory.mktemp("demo"))
    yield server
    stop_server(server)


IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; never `playwright install` (no download here)
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by playwright, one per test module; skipped where it is
    absent, a failure under CI (.ci/run installs it)."""
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"CI=true but {CHROMIUM} is missing (.ci/run installs chromium)")
        pytest.skip(f"{CHROMIUM} is absent: `apt-get install chromium` to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev extra")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
