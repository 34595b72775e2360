"""The web page and JSON API the daemon serves under `[http] listen` (README, "Web page").

Its own layer, between the daemon (which starts it in its event loop) and the use cases:

    server     uvicorn in the daemon's loop, signal handling left to the daemon
    routes     the Starlette app: every route, errors as pages or JSON
    guard      Host allow-list, authentication, Origin checks, security headers
    security   the token and what it signs: sessions, feed keys, CSRF; sign-in rate limit
    context    `Web`: the running app, health and reload as the pages see them
    pages      the HTML pages and Atom feeds (templates/ and static/ ship in the package)
    atom       Atom 1.0 rendering
    api        /api/v1/ and its OpenAPI document
    editor     the watchlist editor (`[http] allow_edit`)
"""

from monitor.web.context import Web
from monitor.web.server import WebServer

__all__ = ["Web", "WebServer"]
