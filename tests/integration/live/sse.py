"""A Server-Sent Events client for the tests: httpx streaming, parsed line by line."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    data: dict[str, Any]


def read_events(
    base_url: str,
    *,
    auth: tuple[str, str],
    count: int,
    last_event_id: int | None = None,
    after: int | None = None,
    timeout: float = 10.0,
    then: Any = None,
) -> list[Event]:
    """Connect, (call `then()` once the stream answers), read `count` events, disconnect."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    params = {"after": str(after)} if after is not None else {}
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=timeout) as client, client.stream(
        "GET", f"{base_url}/api/v1/conversations/events", auth=auth, headers=headers,
        params=params,
    ) as response:  # fmt: skip
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        if then is not None:
            then()
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            assert time.monotonic() < deadline, f"only {len(events)} of {count} events came"
            if line == "":
                if "data" in fields:
                    events.append(
                        Event(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                    )
                fields = {}
                if len(events) >= count:
                    break
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
    return events
