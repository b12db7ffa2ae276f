"""`POST /sms/twilio/status`: Twilio's delivery receipts (status callbacks). The signature is
checked against the public URL Twilio was given; the outbox row with that MessageSid, and the
conversation line linked to it, take the new status."""

from __future__ import annotations

import functools
import logging

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from billing_core.app_services import services
from billing_core.clock import Clock
from billing_core.outbox.dispatch import record_delivery_report
from billing_core.outbox.transport import Report
from sms.signature import (
    SIGNATURE_HEADER,
    is_signed_by_twilio,
    parse_form,
    public_url,
    webhook_auth_token,
)
from sms.transport import OPTED_OUT, STATUS_PATH, TRANSIENT_CODES

log = logging.getLogger("wattdesk.sms.status")

router = APIRouter(tags=["sms"])

ACCEPTED = frozenset({"accepted", "scheduled", "queued", "sending", "sent"})
DELIVERED = frozenset({"delivered", "read"})
NOT_DELIVERED = frozenset({"undelivered", "failed", "canceled"})


def report_of(message_status: str, error_code: str | None) -> Report | None:
    """Twilio's MessageStatus and ErrorCode in the dispatcher's terms (None: ignore)."""
    status = message_status.lower()
    if status in ACCEPTED:
        return Report.sent
    if status in DELIVERED:
        return Report.delivered
    if status not in NOT_DELIVERED:
        return None
    code = int(error_code) if error_code and error_code.isdigit() else None
    if code == OPTED_OUT:
        return Report.opted_out
    if code is not None and code in TRANSIENT_CODES:
        return Report.transient
    return Report.permanent


async def twilio_status(request: Request) -> Response:
    app = services(request)
    settings = app.settings
    form = parse_form(await request.body())
    token = webhook_auth_token(settings)
    url = public_url(settings, request.url.path, request.url.query)
    signature = request.headers.get(SIGNATURE_HEADER)
    if token is None or not is_signed_by_twilio(
        token=token, url=url, params=form, signature=signature
    ):
        log.warning("refused a status callback without a valid Twilio signature (url %s)", url)
        return Response(status_code=403)
    sid = _first(form, "MessageSid") or _first(form, "SmsSid")
    status = _first(form, "MessageStatus") or _first(form, "SmsStatus")
    error_code = _first(form, "ErrorCode") or None
    report = report_of(status, error_code) if status else None
    if not sid or report is None:
        return Response(status_code=204)
    # Through the app's unit-of-work runner, as every webhook: SQLite turns away a
    # transaction that read before another writer (the dispatcher) committed, PostgreSQL may
    # pick it as a deadlock victim, and the runner runs it again.
    outcome = await app.units.run(
        functools.partial(
            apply_report, clock=app.clock, provider_id=sid, report=report,
            error_code=error_code, detail=f"Twilio {status}",
        )
    )  # fmt: skip
    if outcome is None:
        # Twilio can report before our dispatcher has committed the MessageSid: the next
        # receipt (or none, if this was the last) settles it.
        log.info("status callback for an unknown MessageSid %s (%s)", sid, status)
    return Response(status_code=204)


# A plain Starlette route, as the inbound webhook (sms/inbound.py says why).
router.add_route(STATUS_PATH, twilio_status, methods=["POST"], include_in_schema=False)


def apply_report(
    session: Session,
    *,
    clock: Clock,
    provider_id: str,
    report: Report,
    error_code: str | None,
    detail: str,
) -> str | None:
    """The receipt's unit of work (a module-level function: on SQLite it may run in the
    writer process, pickled)."""
    return record_delivery_report(
        session=session, clock=clock, provider_id=provider_id, report=report,
        error_code=error_code, detail=detail,
    )  # fmt: skip


def _first(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""
