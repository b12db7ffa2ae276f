"""`POST /sms/twilio/status`: Twilio's delivery receipts (status callbacks). The signature is
checked against the public URL Twilio was given; the outbox row with that MessageSid, and the
conversation line linked to it, take the new status."""

from __future__ import annotations

import functools
import logging
import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlmodel import Session

from billing_core.app_services import services
from billing_core.clock import Clock
from billing_core.health.service import record_delivery_failure
from billing_core.outbox.dispatch import OUTBOX, record_delivery_report
from billing_core.outbox.transport import Report
from sms.inbound import MESSAGE_SID, SMS
from sms.signature import (
    SIGNATURE_HEADER,
    FormParams,
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
# Twilio's statuses are single lower-case words (queued, delivered, undelivered, ...).
MESSAGE_STATUS = re.compile(r"[A-Za-z_-]{0,32}")


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


class BadReport(ValueError):
    """A signed receipt that is not one Twilio would send: answered 400."""


async def twilio_status(request: Request) -> Response:
    """Nothing is acted on before the signature is checked. Without a token or a signature
    the body is not even read; with them it is at most 64 KiB (api/limits.py bounds it while
    it is read), so parsing it and computing the signature stay cheap on the event loop."""
    app = services(request)
    settings = app.settings
    token = webhook_auth_token(settings)
    url = public_url(settings, request.url.path, request.url.query)
    signature = request.headers.get(SIGNATURE_HEADER)
    if token is None or not signature:
        log.warning("refused a status callback without a signature or token (url %s)", url)
        return Response(status_code=403)
    form = parse_form(await request.body())
    if not is_signed_by_twilio(token=token, url=url, params=form, signature=signature):
        log.warning("refused a status callback without a valid Twilio signature (url %s)", url)
        return Response(status_code=403)
    try:
        sid, status, error_code = report_fields(form)
    except BadReport as exc:
        log.warning("status callback refused (400): %s", exc)
        return PlainTextResponse(f"bad request: {exc}", status_code=400)
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


def report_fields(form: FormParams) -> tuple[str, str, str | None]:
    """The receipt's MessageSid, MessageStatus and ErrorCode (SmsSid and SmsStatus, their
    older names, where the new ones are absent), or BadReport. A sid or a code no message
    of ours can have is refused here rather than looked up."""
    sid = _single(form, "MessageSid") or _single(form, "SmsSid")
    if sid and not MESSAGE_SID.fullmatch(sid):
        raise BadReport("MessageSid is malformed")
    status = _single(form, "MessageStatus") or _single(form, "SmsStatus")
    if not MESSAGE_STATUS.fullmatch(status):
        raise BadReport("MessageStatus is malformed")
    error_code = _single(form, "ErrorCode")
    if error_code and not (error_code.isascii() and error_code.isdigit() and len(error_code) <= 9):
        raise BadReport("ErrorCode is not a number")
    return sid, status, error_code or None


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
    writer process, pickled). A sent message reported undelivered counts as a failure for the
    delivery watch (docs/health.md); an opt-out is the recipient's doing, and a repeated
    receipt finds the message no longer `sent`."""
    was_sent = (
        report in _FAILED
        and session.execute(
            select(OUTBOX.c.status).where(OUTBOX.c.provider_id == provider_id)
        ).scalar()
        == "sent"
    )
    status = record_delivery_report(
        session=session, clock=clock, provider_id=provider_id, report=report,
        error_code=error_code, detail=detail,
    )  # fmt: skip
    if was_sent and status in ("pending", "failed"):
        record_delivery_failure(session=session, channel=SMS, at=clock.now())
    return status


_FAILED = frozenset({Report.transient, Report.permanent})


def _single(form: FormParams, name: str) -> str:
    values = form.get(name, [""])
    if len(values) > 1:
        raise BadReport(f"{name} is repeated")
    return values[0]
