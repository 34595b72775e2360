"""The HTML pages: dashboard, sources, topics, an alert's explanation, the explain form, the
Atom feeds and sign-in. Templates are autoescaped Jinja2: no feed or article HTML is ever
rendered as HTML, every stored string is text.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from monitor.app import fetch_limits
from monitor.match import Verdict
from monitor.models import Alert, Article
from monitor.usecases import Explained, explain_url
from monitor.web.atom import render_feed, safe_link
from monitor.web.context import BadRequest, Web, decode_cursor, encode_cursor
from monitor.web.security import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    SIGNIN_COOKIE,
    SIGNIN_FORM_SECONDS,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 50
DASHBOARD_REFRESH = 60  # s: the first page of the dashboard reloads itself (no script)
FEED_SIZE = 100
SOURCES_PAGE = 100
MAX_EXPLAIN_TEXT = 200_000  # characters of pasted text


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda d: d.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if d else "—"
    env.filters["safe_link"] = safe_link
    return env


TEMPLATES = _environment()


def render(web: Web, request: Request, name: str, status: int = 200, **values: Any) -> Response:
    state = request.scope.get("state", {})
    values.setdefault("title", "monitor")
    page = TEMPLATES.get_template(name).render(
        csrf=web.signer.csrf(state.get("session", "")),
        signed_in=state.get("auth") == "session",
        allow_edit=web.settings.http.allow_edit,
        **values,
    )
    return HTMLResponse(page, status, headers={"cache-control": "no-store"})


async def form(web: Web, request: Request) -> dict[str, str]:
    """The POSTed form, after its CSRF token was checked (BadRequest if wrong)."""
    data = await request.form(max_files=0, max_fields=20, max_part_size=1024 * 1024)
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    session = request.scope.get("state", {}).get("session", "")
    if not web.signer.csrf_ok(session, fields.get("csrf", "")):
        raise Forbidden("the form is out of date (or not from this page): reload and retry")
    return fields


class Forbidden(Exception):
    pass


# --- dashboard, sources, topics ------------------------------------------------------------


async def dashboard(web: Web, request: Request) -> Response:
    topic = request.query_params.get("topic") or None
    source = request.query_params.get("source") or None
    cursor = request.query_params.get("cursor")
    before = decode_cursor(cursor) if cursor else None
    store = web.app.store
    now = web.app.clock()
    # Side by side, each in its own thread and connection (SQLite's WAL reads concurrently).
    counts, failing, queue, alerts = await asyncio.gather(
        web.run(store.source_counts),
        web.run(store.failing_sources, 20),
        web.run(store.queue_summary, now),
        web.run(store.alerts_page, topic=topic, source=source, before=before, limit=PAGE_SIZE),
    )
    topics = web.settings.watchlist.topics
    return render(
        web, request, "dashboard.html",
        counts=counts, failing=failing, queue=queue, alerts=alerts, topics=topics,
        topic=topic, source=source, healthy=web.health.check(),
        reload_result=web.reload_result(),
        next_url=_next_page(request, alerts, PAGE_SIZE),
        feed_url=_feed_link(web, "/alerts.atom"),
        refresh=DASHBOARD_REFRESH if cursor is None else None,
    )  # fmt: skip


SOURCE_HEALTH = ("failing", "disabled")  # the filters of /sources (`?health=`)


def query_health(request: Request) -> str | None:
    health = request.query_params.get("health") or None
    if health is not None and health not in SOURCE_HEALTH:
        raise BadRequest(f"health must be one of {', '.join(SOURCE_HEALTH)}")
    return health


async def sources_page(web: Web, request: Request) -> Response:
    after = request.query_params.get("after") or None
    health = query_health(request)
    rows = await web.run(web.app.store.sources_page, after=after, limit=SOURCES_PAGE, health=health)
    next_url = None
    if len(rows) == SOURCES_PAGE:
        params = {"after": rows[-1].id, **({"health": health} if health else {})}
        next_url = "/sources?" + urlencode(params)
    return render(
        web, request, "sources.html", title=f"{health} sources" if health else "sources",
        sources=rows, next_url=next_url, health=health,
    )  # fmt: skip


async def topic_page(web: Web, request: Request) -> Response:
    topic_id = request.path_params["topic_id"]
    topic = next((t for t in web.settings.watchlist.topics if t.id == topic_id), None)
    if topic is None:
        return _not_found(web, request, f"no topic {topic_id!r} in the watchlist")
    cursor = request.query_params.get("cursor")
    before = decode_cursor(cursor) if cursor else None
    alerts = await web.run(
        web.app.store.alerts_page, topic=topic.id, before=before, limit=PAGE_SIZE
    )
    return render(
        web, request, "topic.html", title=topic.title, topic=topic, alerts=alerts,
        next_url=_next_page(request, alerts, PAGE_SIZE),
        feed_url=_feed_link(web, f"/topics/{topic.id}.atom"),
    )  # fmt: skip


def _next_page(request: Request, alerts: list[Alert], size: int) -> str | None:
    if len(alerts) < size:
        return None
    params = dict(request.query_params)
    params["cursor"] = encode_cursor(alerts[-1].created_at, alerts[-1].id)
    return f"{request.url.path}?{urlencode(params)}"


def _feed_link(web: Web, path: str) -> str:
    """A feed's address for a reader: with its key when the page needs a token."""
    if web.mode == "token":
        return f"{path}?{urlencode({'key': web.signer.feed_key(path)})}"
    return path


def _not_found(web: Web, request: Request, message: str) -> Response:
    return render(web, request, "error.html", 404, title="not found", message=message)


# --- feeds ---------------------------------------------------------------------------------


async def alerts_feed(web: Web, request: Request) -> Response:
    alerts = await web.run(web.app.store.alerts_page, limit=FEED_SIZE)
    return _feed(web, request, "/alerts.atom", "/", "monitor: every alert", alerts)


async def topic_feed(web: Web, request: Request) -> Response:
    topic_id = request.path_params["topic_id"]
    topic = next((t for t in web.settings.watchlist.topics if t.id == topic_id), None)
    if topic is None:
        return PlainTextResponse(f"no topic {topic_id!r} in the watchlist\n", 404)
    alerts = await web.run(web.app.store.alerts_page, topic=topic.id, limit=FEED_SIZE)
    path = f"/topics/{topic.id}.atom"
    return _feed(web, request, path, f"/topics/{topic.id}", f"monitor: {topic.title}", alerts)


def _feed(
    web: Web, request: Request, path: str, page: str, title: str, alerts: list[Alert]
) -> Response:
    base = web.base_url()
    self_url = base + path
    key = request.query_params.get("key", "")
    if key and web.signer.feed_key_ok(path, key):
        # The reader's own address: without its key, a reader that follows rel="self" (to
        # resubscribe, or when it moves the subscription) would get 401.
        self_url += "?" + urlencode({"key": key})
    body, updated = render_feed(
        title=title, feed_id=f"urn:monitor:feed:{path}", self_url=self_url,
        page_url=base + page, base_url=base, alerts=alerts,
    )  # fmt: skip
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "etag": etag,
        "last-modified": format_datetime(updated.astimezone(UTC), usegmt=True),
        "cache-control": "private, no-cache",
    }
    if _not_modified(request, etag, updated):
        return Response(status_code=304, headers=headers)
    return Response(body, 200, media_type="application/atom+xml; charset=utf-8", headers=headers)


def _not_modified(request: Request, etag: str, updated: datetime) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since when both are sent."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return etag in tags or "*" in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return updated.replace(microsecond=0) <= when
    return False


# --- explain -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """One hit shown in its text: before, the hit, after (all plain text)."""

    field: str
    before: str
    hit: str
    after: str


def contexts(article: Article, verdict: Verdict, width: int = 60) -> dict[str, list[Context]]:
    """Term → where it hit, with `width` characters either side."""
    result: dict[str, list[Context]] = {}
    for term in (*[t for g in verdict.groups for t in g], *verdict.any, *verdict.regex,
                 *verdict.vetoes):  # fmt: skip
        for hit in term.hits:
            source = article.title if hit.field == "title" else article.text
            end = hit.start + len(hit.found)
            result.setdefault(term.term, []).append(
                Context(
                    hit.field,
                    source[max(0, hit.start - width) : hit.start],
                    source[hit.start : end],
                    source[end : end + width],
                )
            )
    return result


async def alert_page(web: Web, request: Request) -> Response:
    alert = await web.run(web.app.store.alert, request.path_params["alert_id"])
    if alert is None:
        return _not_found(web, request, "no such alert")
    # The pipeline's compiled watchlist: compiling one here would stall the event loop.
    matcher = web.app.pipeline.matcher
    topic = next((t for t in matcher.watchlist.topics if t.id == alert.topic.id), None)
    verdict = None
    if topic is not None:
        article = alert.article
        tags = web.app.pipeline.tags.get(article.source, ())
        verdicts = await web.run(
            matcher.explain, article.title, article.text, source=article.source, tags=tags
        )
        verdict = next(v for v in verdicts if v.topic.id == topic.id)
    return render(
        web, request, "alert.html", title=alert.article.title or alert.topic.title,
        alert=alert, verdict=verdict, topic=topic,
        contexts=contexts(alert.article, verdict) if verdict else {},
    )  # fmt: skip


async def explain_form(web: Web, request: Request) -> Response:
    return render(web, request, "explain.html", title="explain", results=None)


async def explain_post(web: Web, request: Request) -> Response:
    fields = await form(web, request)
    text, url = fields.get("text", ""), fields.get("url", "").strip()
    matcher = web.app.pipeline.matcher  # compiled already (not on the event loop)
    error = None
    results: list[tuple[Article, list[Verdict]]] = []
    if url:
        explained = await web.run(explain_by_url, web, url)
        for item in explained:
            if item.article is None:
                error = item.error
            else:
                results.append((item.article, list(item.verdicts)))
    elif text.strip():
        if len(text) > MAX_EXPLAIN_TEXT:
            raise BadRequest(f"the text is longer than {MAX_EXPLAIN_TEXT:,} characters")
        article = _pasted(text)
        verdicts = await web.run(matcher.explain, article.title, article.text)
        results.append((article, verdicts))
    else:
        error = "paste a text or give a feed URL"
    shown = [
        (article, verdicts, {v.topic.id: contexts(article, v) for v in verdicts if v.matched})
        for article, verdicts in results
    ]
    return render(
        web, request, "explain.html", title="explain", results=shown, error=error,
        text=text, url=url,
    )  # fmt: skip


def explain_by_url(web: Web, url: str) -> list[Explained]:
    """A URL fetched as the daemon's feeds are (`[fetch]` limits, address checks) but never
    with a private-network override, whatever the config says: the page is no way in to the
    server's network. Runs in a worker thread."""
    return explain_url(
        url, web.app.pipeline.matcher.watchlist, allow_private_network=False,
        limits=fetch_limits(web.settings.fetch), matcher=web.app.pipeline.matcher,
    )  # fmt: skip


def _pasted(text: str) -> Article:
    """Pasted text: the first line is the title, as in a dropped file."""
    title, _, body = text.strip().partition("\n")
    return Article("pasted", "pasted text", None, None, title.strip(), body.strip(), None, "")


# --- sign-in -------------------------------------------------------------------------------


def _signin_page(
    web: Web, request: Request, status: int = 200, *, target: str, error: str | None = None
) -> Response:
    """The sign-in form, its CSRF token bound to the nonce in its own cookie (there is no
    session yet). A nonce the browser already has is kept: another GET of /signin (a second
    tab, the browser's own /favicon.ico redirected here) must not make the open form stale."""
    nonce = request.cookies.get(SIGNIN_COOKIE, "")
    if not re.fullmatch(r"[0-9a-f]{32}", nonce):
        nonce = web.signer.new_signin_nonce()
    response = render(
        web, request, "signin.html", status, title="sign in", next=target, error=error,
        signin_csrf=web.signer.signin_csrf(nonce),
    )  # fmt: skip
    response.set_cookie(
        SIGNIN_COOKIE, nonce, max_age=SIGNIN_FORM_SECONDS, httponly=True, samesite="strict",
        path="/signin", secure=web.settings.http.public_url.startswith("https://"),
    )  # fmt: skip
    return response


async def signin_form(web: Web, request: Request) -> Response:
    if web.mode != "token":
        return RedirectResponse("/", 303)
    return _signin_page(web, request, target=_safe_next(request))


async def signin_post(web: Web, request: Request) -> Response:
    if web.mode != "token":
        return RedirectResponse("/", 303)
    client = request.client.host if request.client else "?"
    data = await request.form(max_files=0, max_fields=5, max_part_size=4096)
    token = str(data.get("token", ""))
    target = _safe_next(request, str(data.get("next", "/")))
    nonce = request.cookies.get(SIGNIN_COOKIE, "")
    if not web.signer.signin_csrf_ok(nonce, str(data.get("csrf", ""))):
        log.warning("http sign-in refused client=%s (no valid form token)", client)
        return _signin_page(
            web, request, 403, target=target,
            error="the sign-in form is out of date (or not from this page): sign in again",
        )  # fmt: skip
    if not web.signin_limit.allowed(client):
        log.warning("http sign-in refused client=%s (too many failures)", client)
        return _signin_page(
            web, request, 429, target=target, error="too many failed sign-ins: wait a minute"
        )
    if not web.signer.check_token(token):
        web.signin_limit.failed(client)
        log.warning("http sign-in failed client=%s", client)
        return _signin_page(web, request, 401, target=target, error="wrong token")
    log.info("http signed in client=%s", client)
    response = RedirectResponse(target, 303)
    response.set_cookie(
        SESSION_COOKIE, web.signer.new_session(web.wall_clock()), max_age=SESSION_SECONDS,
        httponly=True, samesite="strict", path="/",
        secure=web.settings.http.public_url.startswith("https://"),
    )  # fmt: skip
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


async def signout(web: Web, request: Request) -> Response:
    await form(web, request)
    response = RedirectResponse("/signin" if web.mode == "token" else "/", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _safe_next(request: Request, value: str | None = None) -> str:
    """Only a path of this site (never `//evil`, never a scheme): no open redirect."""
    target = value if value is not None else request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
