"""Cross-site request forgery on the staff API: a page on another site can make a signed-in
browser (HTTP Basic credentials are cached and sent again by the browser) send a request,
but only a "simple" one unless the API allows it by CORS, which it never does. A simple
request's body is a form or `text/plain`, never `application/json`; and every browser sends
an `Origin` header with a cross-origin POST.

So a staff write (any method but GET, HEAD and OPTIONS) is accepted only:

- with `Content-Type: application/json` (a body-less POST too: scripts send the header);
- with no `Origin` header (scripts and integrations), or the app's own origin: the scheme,
  host and port of WATTDESK_PUBLIC_BASE_URL, and, while that is left at its development
  default, the origin of the request's own Host;
- with no `Sec-Fetch-Site` header, or `same-origin` or `none` (a person's own navigation).

A route that one day takes another body type (CSV, XML) must accept it only with a header
no page can send cross-site without CORS: `Authorization: Bearer …` or a custom `X-` header.
The customer pay pages and the simulator are not the staff API and have their own rules.

The staff console signs people in with a session cookie (SameSite=Lax, so a cross-site POST
does not carry it). A write signed in by that cookie (a console form, or the console's own
fetch of the JSON API) must come from the app's own origin, as above, and carry the
session's CSRF token: in the `X-CSRF-Token` header, or in a form's hidden `csrf_token`
field. The sign-in form itself, before there is a session, uses a double-submit token: a
random value in a cookie of its own and the same value in the form."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

from api.deps import READ_ONLY_METHODS
from billing_core.settings import Settings

JSON = "application/json"
FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SAME_SITE_FETCHES = frozenset({"same-origin", "none"})
_DEVELOPMENT_BASE_URL = Settings.model_fields["public_base_url"].default


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` as a browser writes it in `Origin` (lower case, the scheme's
    default port left out), or None when `url` is no http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    shown_port = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown_port}"


def own_origins(request: Request, settings: Settings) -> set[str]:
    """The origins whose pages may write to the staff API."""
    origins = {origin_of(settings.public_base_url)}
    if settings.public_base_url == _DEVELOPMENT_BASE_URL:
        # The embedded default serves wherever it was started (`--port`): its own pages'
        # origin is the address the browser asked for.
        host = request.headers.get("host", "")
        if host:
            origins.add(origin_of(f"{request.url.scheme}://{host}"))
    return {origin for origin in origins if origin is not None}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def refuse_cross_site_write(request: Request, settings: Settings) -> None:
    """403 for a staff write a page on another site could have sent (the module's rules)."""
    if request.method in READ_ONLY_METHODS:
        return
    if media_type(request) != JSON:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"the staff API accepts writes only with Content-Type: {JSON}",
        )
    refuse_foreign_origin(request, settings)


def refuse_foreign_origin(request: Request, settings: Settings) -> None:
    """403 unless the request comes from the app's own origin, or names none (the module's
    second and third rules)."""
    origin = request.headers.get("origin")
    if origin is not None and origin_of(origin) not in own_origins(request, settings):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="the staff API accepts writes only from its own origin (or with no Origin)",
        )
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in _SAME_SITE_FETCHES:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="the staff API accepts writes only from its own origin",
        )


async def sent_csrf_token(request: Request) -> str | None:
    """The CSRF token a write carries: its X-CSRF-Token header, else a form's csrf_token."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and media_type(request) in FORMS:
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent


async def refuse_unproven_write(request: Request, settings: Settings, expected: str) -> None:
    """403 for a write signed in by the console's cookie that does not come from the app's
    own origin with the session's CSRF token (`expected`)."""
    if request.method in READ_ONLY_METHODS:
        return
    refuse_foreign_origin(request, settings)
    sent = await sent_csrf_token(request)
    proven = sent is not None and hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode()
    )
    if not proven:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="the console's CSRF token is missing or wrong: reload the page and try again",
        )
