"""The customer's payment pages: the pay link (/p/{token}), its checkout, the result, the
printable e-receipt, and the sandbox's test checkout. Mobile-first, no JavaScript.

Nothing that matters comes from the request but the token in the path: the forms carry no
amount, account or bill, and whatever is posted besides is never read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from babel.dates import format_date, format_time
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.deps import ClockDep, PaymentContextDep, SessionDep, id_or_none
from api.routes.pay_text import (
    CHANNELS,
    DESCRIPTIONS,
    EN,
    INVALID_LINK,
    TEXT,
    ZH,
    display_language,
)
from billing_core.app_services import services
from billing_core.errors import Conflict, InvalidInput, NotFound
from billing_core.messages.templates import babel_locale, day, money
from billing_core.payments.pages import (
    CheckoutResult,
    checkout_link,
    checkout_result,
    pay_page,
    receipt,
    sandbox_checkout,
    settle_sandbox_checkout,
)
from billing_core.payments.providers import SANDBOX, CheckoutProvider, ProviderUnavailable

router = APIRouter(include_in_schema=False)
# Mounted only when the sandbox is the provider (never in production: start-up refuses it).
sandbox_router = APIRouter(include_in_schema=False)

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))


def _when(value: datetime, language: str, time_format: str = "short") -> str:
    """A local date and time as the language writes it (2026年11月26日 10:00, Nov 26, 2026
    10:00 AM); `value` is already in the customer's time zone."""
    locale = babel_locale(language)
    shown = format_time(value, time_format, tzinfo=value.tzinfo, locale=locale)
    return f"{format_date(value, 'medium', locale=locale)} {shown}"


templates.env.filters.update(money=money, day=day, when=_when)

# A pay page holds a token and an amount that changes: never cached, never sent on as a
# Referer (to a provider's page or anywhere else), never indexed.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def get_checkout_provider(request: Request) -> CheckoutProvider:
    provider: CheckoutProvider = services(request).checkout_provider
    return provider


ProviderDep = Annotated[CheckoutProvider, Depends(get_checkout_provider)]


# A checkout's status → the title and text the customer reads.
OUTCOME = {
    "completed": ("paid_title", "paid"),
    "open": ("open_title", "open"),
    "failed": ("failed_title", "failed"),
    "cancelled": ("cancelled_title", "cancelled"),
    "expired": ("expired_title", "expired"),
}


def _page(
    request: Request, name: str, language: str, *, status: int = 200, **values: Any
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        f"pay/{name}.html",
        {"lang": language, "t": TEXT[language], "channels": CHANNELS[language],
         "outcome": OUTCOME, **values},
        status_code=status,
    )  # fmt: skip
    response.headers.update(PRIVATE)
    return response


def _invalid_link(request: Request) -> HTMLResponse:
    """The one page for every token that cannot be paid: unknown, expired, replaced, paid."""
    return _page(
        request, "invalid", ZH, status=404, zh=TEXT[ZH], en=TEXT[EN], message=INVALID_LINK,
        title_key="invalid_title",
    )  # fmt: skip


def _lang_query(lang: str | None) -> str:
    return f"?lang={lang}" if lang in TEXT else ""


def _default_language(request: Request) -> str:
    """For pages that belong to no customer we could name (nothing found)."""
    default: str = services(request).settings.default_locale
    return default


# --- the pay link --------------------------------------------------------------------------


@router.get("/p/{token}", response_class=HTMLResponse)
def pay_link_page(
    token: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    context: PaymentContextDep,
    provider: ProviderDep,
    lang: str | None = None,
) -> HTMLResponse:
    try:
        page = pay_page(session=session, clock=clock, context=context, token=token)
    except NotFound:
        page = None
    if page is None:
        return _invalid_link(request)
    language = display_language(lang, page.language)
    return _page(
        request, "link", language, page=page, token=token, lang_query=_lang_query(lang),
        test_mode=provider.name == SANDBOX,
    )  # fmt: skip


@router.post("/p/{token}/checkout")
def pay_link_checkout(
    token: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    context: PaymentContextDep,
    provider: ProviderDep,
    lang: str | None = None,
) -> Response:
    """Starts a checkout for what is due now. The form body is never read: an amount,
    account or bill posted here (or put in the query) changes nothing."""
    try:
        url = checkout_link(
            session=session, clock=clock, context=context, token=token, provider=provider,
            descriptions=DESCRIPTIONS,
        )  # fmt: skip
    except Conflict:  # nothing is due now: the page says so
        page = pay_link_page(token, request, session, clock, context, provider, lang)
        if page.status_code == 200:
            page.status_code = 409
        return page
    except ProviderUnavailable:
        session.commit()  # keep the failed attempt
        language = display_language(lang, _default_language(request))
        return _page(request, "message", language, status=503, title_key="unavailable_title",
                     text_key="unavailable", back=f"/p/{token}{_lang_query(lang)}")  # fmt: skip
    except NotFound:
        url = None
    if url is None:
        return _invalid_link(request)
    # Commit before the customer is sent on: the provider's page (the sandbox's is served by
    # this app, from another session) must find the attempt.
    session.commit()
    return RedirectResponse(url, status_code=303, headers=PRIVATE)


@router.get("/p/{token}/done", response_class=HTMLResponse)
def pay_link_done(
    token: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    context: PaymentContextDep,
    lang: str | None = None,
) -> HTMLResponse:
    """Where a provider sends the customer back after paying: the result of the link's
    latest checkout, as the server knows it (never as the URL claims it)."""
    result = checkout_result(session=session, clock=clock, context=context, token=token)
    if result is None:
        return _invalid_link(request)
    language = display_language(lang, result.language)
    return _page(request, "result", language, result=result, test_mode=result.provider == SANDBOX,
                 back=f"/p/{token}{_lang_query(lang)}")  # fmt: skip


# --- the printable e-receipt ---------------------------------------------------------------


@router.get("/receipts/{payment_id}/{signature}", response_class=HTMLResponse)
def receipt_page(
    payment_id: str,
    signature: str,
    request: Request,
    session: SessionDep,
    context: PaymentContextDep,
    lang: str | None = None,
) -> HTMLResponse:
    number = id_or_none(payment_id)
    found = (
        receipt(session=session, context=context, payment_id=number, signature=signature[:64])
        if number is not None
        else None
    )
    if found is None:
        return _page(
            request, "invalid", ZH, status=404, zh=TEXT[ZH], en=TEXT[EN],
            message={ZH: TEXT[ZH]["receipt_not_found"], EN: TEXT[EN]["receipt_not_found"]},
            title_key="receipt_not_found_title",
        )  # fmt: skip
    language = display_language(lang, found.language)
    # A sandbox receipt carries its own label (test_receipt), not the checkout's banner.
    return _page(request, "receipt", language, receipt=found, test_receipt=found.channel == SANDBOX)


# --- the sandbox (test mode) ---------------------------------------------------------------


def _sandbox_missing(request: Request, lang: str | None) -> HTMLResponse:
    language = display_language(lang, _default_language(request))
    return _page(request, "message", language, status=404, title_key="expired_title",
                 text_key="expired", test_mode=True)  # fmt: skip


@sandbox_router.get("/sandbox/checkout/{attempt_id}", response_class=HTMLResponse)
def sandbox_page(
    attempt_id: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    context: PaymentContextDep,
    lang: str | None = None,
) -> HTMLResponse:
    number = id_or_none(attempt_id)
    if number is None:
        return _sandbox_missing(request, lang)
    try:
        result = sandbox_checkout(session=session, clock=clock, context=context, attempt_id=number)
    except NotFound:
        return _sandbox_missing(request, lang)
    return _sandbox_view(request, result, lang)


def _sandbox_view(
    request: Request, result: CheckoutResult, lang: str | None, status: int = 200
) -> HTMLResponse:
    language = display_language(lang, result.language)
    return _page(request, "sandbox", language, status=status, result=result, test_mode=True,
                 lang_query=_lang_query(lang))  # fmt: skip


@sandbox_router.post("/sandbox/checkout/{attempt_id}")
def sandbox_settle(
    attempt_id: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    context: PaymentContextDep,
    outcome: Annotated[str, Form(max_length=16)] = "",
    lang: str | None = None,
) -> Response:
    """The tester's button: succeed, fail or cancel. The amount is the attempt's, fixed when
    the checkout started; nothing else on the form is read."""
    number = id_or_none(attempt_id)
    if number is None:
        return _sandbox_missing(request, lang)
    try:
        settle_sandbox_checkout(
            session=session, clock=clock, context=context, attempt_id=number, outcome=outcome
        )
    except NotFound:
        return _sandbox_missing(request, lang)
    except InvalidInput:
        result = sandbox_checkout(session=session, clock=clock, context=context, attempt_id=number)
        return _sandbox_view(request, result, lang, status=422)
    session.commit()  # before the redirect: the next page is another request
    return RedirectResponse(f"/sandbox/checkout/{number}{_lang_query(lang)}", status_code=303)
