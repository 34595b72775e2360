"""The ASGI application: every route, behind `Guard`, with errors as pages or JSON.

`/healthz` and `/metrics` behave exactly as the hand-written server did before (status codes,
content types, bodies, HEAD without a body, 405 for other methods).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib.resources import files

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from monitor.errors import StoreError
from monitor.metrics import CONTENT_TYPE
from monitor.web import api, editor, pages
from monitor.web.context import BadRequest, Web
from monitor.web.guard import Guard
from monitor.web.pages import Forbidden

log = logging.getLogger(__name__)

Handler = Callable[[Web, Request], Awaitable[Response]]


def build_asgi(web: Web) -> Guard:
    """The whole web app for `web`: Starlette routes wrapped in the security guard."""

    def bind(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(web, request)
            except BadRequest as e:
                return _error(web, request, 400, str(e))
            except Forbidden as e:
                return _error(web, request, 403, str(e))
            except StoreError as e:  # the database is down: say so, the daemon goes on
                log.error("http database failed path=%s reason=%r", request.url.path, str(e))
                return _error(web, request, 503, f"the database does not answer: {e}")

        return endpoint

    async def healthz(request: Request) -> Response:
        healthy, reason = web.health.check()
        return PlainTextResponse(
            f"{reason}\n", 200 if healthy else 503, headers={"cache-control": "no-store"}
        )

    async def metrics(request: Request) -> Response:
        return Response(
            web.app.metrics.render(), headers={"content-type": CONTENT_TYPE,
                                                "cache-control": "no-store"},
        )  # fmt: skip

    get = ["GET", "HEAD"]
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=get),
        Route("/metrics", metrics, methods=get),
        Route("/", bind(pages.dashboard), methods=get),
        Route("/sources", bind(pages.sources_page), methods=get),
        Route("/alerts.atom", bind(pages.alerts_feed), methods=get),
        Route("/topics/{topic_id}.atom", bind(pages.topic_feed), methods=get),
        Route("/topics/{topic_id}", bind(pages.topic_page), methods=get),
        Route("/alerts/{alert_id}", bind(pages.alert_page), methods=get),
        Route("/explain", bind(pages.explain_form), methods=get),
        Route("/explain", bind(pages.explain_post), methods=["POST"]),
        Route("/signin", bind(pages.signin_form), methods=get),
        Route("/signin", bind(pages.signin_post), methods=["POST"]),
        Route("/signout", bind(pages.signout), methods=["POST"]),
        Route("/api/v1/alerts", bind(api.alerts), methods=get),
        Route("/api/v1/sources", bind(api.sources), methods=get),
        Route("/api/v1/topics", bind(api.topics), methods=get),
        Route("/api/v1/stories", bind(api.stories), methods=get),
        Route("/api/v1/explain", bind(api.explain), methods=["POST"]),
        Route("/api/v1/openapi.json", bind(api.openapi), methods=get),
        Mount("/static", StaticFiles(directory=str(files("monitor.web") / "static"))),
    ]
    routes += [
        Route("/watchlist", bind(editing(editor.page)), methods=get),
        Route("/watchlist/preview", bind(editing(editor.preview)), methods=["POST"]),
        Route("/watchlist/save", bind(editing(editor.save)), methods=["POST"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405 and request.url.path in ("/healthz", "/metrics"):
            return PlainTextResponse("method not allowed\n", 405)
        message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, exc.detail)
        return _error(web, request, exc.status_code, message)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return Guard(app, web)


def editing(handler: Handler) -> Handler:
    """An editor route: always routed, 404 while `[http] allow_edit` is off, so that a reload
    turns the editor on or off without a restart."""

    async def endpoint(web: Web, request: Request) -> Response:
        if not web.settings.http.allow_edit:
            return _error(web, request, 404, "not found")
        return await handler(web, request)

    return endpoint


def _error(web: Web, request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status)
    if request.scope.get("state", {}).get("auth", "none") == "none":
        return PlainTextResponse(f"{message}\n", status)
    return pages.render(web, request, "error.html", status, title=str(status), message=message)
