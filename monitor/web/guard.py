"""The ASGI middleware every request passes first: Host allow-list, authentication, the
Origin and CSRF checks of POSTs, and the security headers on every response.

Order: /healthz and /metrics are served to anyone (probes send no Host a page would, nor
credentials); then the Host must be one this daemon is known by (DNS rebinding); then, by
mode (`Web.mode`), a session cookie, a Bearer token or a feed's `?key=` is required.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.web.context import Web
from monitor.web.security import CSRF_HEADER, OPEN_PATHS, SECURITY_HEADERS, SESSION_COOKIE

log = logging.getLogger(__name__)

# /favicon.ico: browsers ask for it by themselves; a 404, not a redirect to /signin.
PUBLIC_PAGES = frozenset({"/signin", "/static/style.css", "/favicon.ico"})


class Guard:
    def __init__(self, app: ASGIApp, web: Web) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message["headers"] = headers
            await send(message)

        try:
            refusal = self.check(scope)
        except Exception:  # a bug here must not answer without the headers (uvicorn's 500 would)
            log.exception("http guard failed path=%s", scope.get("path", "?"))
            refusal = PlainTextResponse("internal error\n", 500)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette answers its handlers' errors itself (through send_with_headers); this
            # covers anything that fails before a response started. Re-raised: uvicorn logs it.
            if not started:
                await PlainTextResponse("internal error\n", 500)(scope, receive, send_with_headers)
            raise

    def check(self, scope: Scope) -> Response | None:
        """None: go on (scope["state"]["auth"] says how the request authenticated)."""
        request = Request(scope)
        path = request.url.path
        state: dict[str, Any] = scope.setdefault("state", {})
        state["auth"] = "none"
        if path in OPEN_PATHS:
            return None
        host = request.headers.get("host", "").lower()
        if host not in self.web.hosts:
            log.warning("http refused host=%r path=%s (not in [http] hosts)", host[:100], path)
            return PlainTextResponse(
                "unknown Host: add the name this page is reached by to [http] hosts\n", 400
            )
        web = self.web
        if web.mode == "closed":
            return PlainTextResponse(
                "this page needs [http] token when [http] listen is not a loopback address; "
                "only /healthz and /metrics are served\n",
                403,
            )
        session = request.cookies.get(SESSION_COOKIE, "")
        if web.mode == "open":
            state["auth"] = "open"
            state["session"] = ""
        elif session and web.signer.session_ok(session, web.wall_clock()):
            state["auth"] = "session"
            state["session"] = session
        else:
            bearer = request.headers.get("authorization", "")
            scheme, _, given = bearer.partition(" ")
            if scheme.lower() == "bearer" and web.signer.check_token(given.strip()):
                state["auth"] = "bearer"
            elif path.endswith(".atom") and web.signer.feed_key_ok(
                path, request.query_params.get("key", "")
            ):
                state["auth"] = "feed"
        if state["auth"] == "none" and path not in PUBLIC_PAGES:
            if path.startswith("/api/"):
                return JSONResponse(
                    {"error": "sign in: send Authorization: Bearer <[http] token>"},
                    401,
                    headers={"www-authenticate": 'Bearer realm="monitor"'},
                )
            if request.method in ("GET", "HEAD") and not path.endswith(".atom"):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/signin?{_next(target)}", 303)
            return PlainTextResponse("sign in first, or use the feed's link with its key\n", 401)
        if request.method not in ("GET", "HEAD") and state["auth"] != "bearer":
            if state["auth"] == "session" and path.startswith("/api/"):
                # A browser's API POST rides on its cookie: it must show the page's CSRF token
                # too, as the page's forms do (a script elsewhere cannot read it).
                given = request.headers.get(CSRF_HEADER, "")
                if not web.signer.csrf_ok(session, given):
                    return JSONResponse(
                        {"error": "send the page's CSRF token in X-CSRF-Token, or use "
                                  "Authorization: Bearer"}, 403,
                    )  # fmt: skip
            return self.check_origin(request)
        return None

    def check_origin(self, request: Request) -> Response | None:
        """A browser's POST must come from this page. Its `Origin`, when it names a site,
        must be an allowed host; under `Referrer-Policy: no-referrer` browsers send
        `Origin: null` for a form POST, so then `Sec-Fetch-Site` (which every current browser
        sends, whatever the referrer policy) must say same-origin. A client that sends neither
        is no browser (curl): the form's CSRF token, checked by the handler, still applies."""
        origin = request.headers.get("origin")
        site = request.headers.get("sec-fetch-site")
        refused = site is not None and site not in ("same-origin", "none")
        if origin == "null":
            refused = refused or site != "same-origin"
        elif origin is not None:
            refused = refused or origin.split("://", 1)[-1].lower() not in self.web.hosts
        if refused:
            log.warning(
                "http refused origin=%r site=%r path=%s", (origin or "")[:100], site,
                request.url.path,
            )  # fmt: skip
            return PlainTextResponse("cross-site request refused\n", 403)
        return None


def _next(target: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": target})
