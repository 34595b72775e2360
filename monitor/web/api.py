"""The JSON API under /api/v1/: alerts (keyset pages), sources, topics, stories, explain; and its
OpenAPI document. Authenticated like the pages (Bearer token for scripts); errors are
`{"error": "..."}` with a 4xx status.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from monitor.evaluate import query_json
from monitor.match import TermResult, Verdict
from monitor.models import Alert, Article, SourceHealth
from monitor.web.atom import rfc3339
from monitor.web.context import (
    BadRequest,
    Web,
    decode_cursor,
    encode_cursor,
    query_instant,
    query_limit,
)
from monitor.web.pages import MAX_EXPLAIN_TEXT, explain_by_url, query_health

MAX_LIMIT = 500


def alert_json(alert: Alert) -> dict[str, Any]:
    article = alert.article
    return {
        "id": alert.id,
        "topic": {"id": alert.topic.id, "title": alert.topic.title},
        "created_at": rfc3339(alert.created_at),
        "matched": list(alert.matched),
        "found": list(alert.found),
        "snippet": alert.snippet,
        "article": {
            "source": article.source,
            "title": article.title,
            "url": article.url,
            "location": article.location,
            "published": rfc3339(article.published) if article.published else None,
            "content_hash": article.content_hash,
        },
    }


def source_json(row: SourceHealth) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return rfc3339(value) if value is not None else None

    return {
        "id": row.id,
        "kind": row.kind,
        "url": row.url,
        "origin": row.origin,
        "active": row.active,
        "disabled_reason": row.disabled_reason,
        "last_poll_at": when(row.last_poll_at),
        "last_result": row.last_result,
        "last_success_at": when(row.last_success_at),
        "last_error_at": when(row.last_error_at),
        "last_error": row.last_error,
        "consecutive_failures": row.consecutive_failures,
        "next_poll_at": when(row.next_poll_at),
    }


def _term(term: TermResult) -> dict[str, Any]:
    return {
        "term": term.term,
        "hits": [{"field": h.field, "start": h.start, "found": h.found} for h in term.hits],
    }


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "topic": verdict.topic.id,
        "matched": verdict.matched,
        "reason": verdict.reason,
        "groups": [[_term(t) for t in group] for group in verdict.groups],
        "any": [_term(t) for t in verdict.any],
        "regex": [_term(t) for t in verdict.regex],
        "vetoes": [_term(t) for t in verdict.vetoes],
        "query": None if verdict.query is None else query_json(verdict.query),
    }


async def alerts(web: Web, request: Request) -> Response:
    limit = query_limit(request, 50, MAX_LIMIT)
    cursor = request.query_params.get("cursor")
    page = await web.run(
        web.app.store.alerts_page,
        topic=request.query_params.get("topic") or None,
        source=request.query_params.get("source") or None,
        since=query_instant(request, "since"),
        until=query_instant(request, "until"),
        before=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    last = page[-1] if len(page) == limit else None
    return JSONResponse(
        {
            "alerts": [alert_json(a) for a in page],
            "next_cursor": encode_cursor(last.created_at, last.id) if last else None,
        }
    )


async def sources(web: Web, request: Request) -> Response:
    limit = query_limit(request, 100, MAX_LIMIT)
    after = request.query_params.get("cursor") or None
    rows = await web.run(
        web.app.store.sources_page, after=after, limit=limit, health=query_health(request)
    )
    return JSONResponse(
        {
            "sources": [source_json(r) for r in rows],
            "next_cursor": rows[-1].id if len(rows) == limit else None,
        }
    )


async def topics(web: Web, request: Request) -> Response:
    watchlist = web.settings.watchlist
    counts = await web.run(
        web.app.store.topic_counts, web.app.clock(), [t.id for t in watchlist.topics]
    )
    return JSONResponse(
        {
            "topics": [
                {
                    "id": t.id,
                    "title": t.title,
                    "alerts_24h": counts.get(t.id, (0, 0))[0],
                    "alerts_7d": counts.get(t.id, (0, 0))[1],
                }
                for t in watchlist.topics
            ]
        }
    )


STORY_WINDOW = timedelta(days=2)  # `monitor stories`' default --since


async def stories(web: Web, request: Request) -> Response:
    """Recent near-duplicate stories, newest first, each with its copies (the root first),
    as `monitor stories --json` lists them."""
    limit = query_limit(request, 50, 500)
    since = query_instant(request, "since") or web.app.clock() - STORY_WINDOW
    topic = request.query_params.get("topic") or None
    found = await web.run(web.app.store.stories, since, topic=topic, limit=limit)
    return JSONResponse(
        {
            "stories": [
                {
                    "id": story.id,
                    "topics": list(story.topics),
                    "copies": [
                        {
                            "content_hash": copy.content_hash,
                            "source": copy.source,
                            "title": copy.title,
                            "first_seen": rfc3339(copy.first_seen),
                            "similarity": copy.similarity,
                            "topics": list(copy.topics),
                        }
                        for copy in story.copies
                    ],
                }
                for story in found
            ]
        }
    )


async def explain(web: Web, request: Request) -> Response:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("send a JSON body with Content-Type: application/json")
    body = await request.body()
    if len(body) > 4 * MAX_EXPLAIN_TEXT:
        raise BadRequest("the body is too large")
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest('expected {"text": "...", "title": "..."} or {"url": "..."}')
    if isinstance(data.get("url"), str) and data["url"]:
        explained = await web.run(explain_by_url, web, data["url"])
        entries = []
        for item in explained:
            if item.article is None:
                return JSONResponse({"error": item.error}, 422)
            entries.append(_explained(item.article, item.verdicts))
        return JSONResponse({"entries": entries})
    text, title = data.get("text"), data.get("title", "")
    if not isinstance(text, str) or not isinstance(title, str):
        raise BadRequest('expected {"text": "...", "title": "..."} or {"url": "..."}')
    if len(text) > MAX_EXPLAIN_TEXT:
        raise BadRequest(f"text is longer than {MAX_EXPLAIN_TEXT:,} characters")
    verdicts = await web.run(web.app.pipeline.matcher.explain, title, text)
    article = Article("pasted", "pasted text", None, None, title, text, None, "")
    return JSONResponse({"entries": [_explained(article, verdicts)]})


def _explained(article: Article, verdicts: Any) -> dict[str, Any]:
    return {
        "title": article.title,
        "url": article.url,
        "topics": [verdict_json(v) for v in verdicts],
    }


async def openapi(web: Web, request: Request) -> Response:
    return JSONResponse(OPENAPI)


def _get(summary: str, params: list[dict[str, Any]], schema: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {
                    "$ref": f"#/components/schemas/{schema}"}}}},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
            },
        }
    }  # fmt: skip


def _param(name: str, description: str, fmt: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if fmt == "integer":
        schema = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
    elif fmt:
        schema["format"] = fmt
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "monitor", "version": "1",
             "description": "Alerts, sources and topics of a monitor daemon."},
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/alerts": _get("Alerts, newest first", [
            _param("topic", "a topic id"), _param("source", "a source id"),
            _param("since", "created at or after (ISO 8601 with zone)", "date-time"),
            _param("until", "created before (ISO 8601 with zone)", "date-time"),
            _param("limit", "page size (default 50)", "integer"),
            _param("cursor", "next_cursor of the page before"),
        ], "AlertPage"),
        "/api/v1/sources": _get("Every source by id, with its health", [
            _param("health", "only the failing or the disabled sources"),
            _param("limit", "page size (default 100)", "integer"),
            _param("cursor", "next_cursor of the page before"),
        ], "SourcePage"),
        "/api/v1/topics": _get("The watchlist's topics with alert counts", [], "Topics"),
        "/api/v1/stories": _get("Near-duplicate stories, newest first, with their copies", [
            _param("topic", "only stories that matched this topic"),
            _param("since", "with an article first seen at or after (default: 2 days ago)",
                   "date-time"),
            _param("limit", "how many stories (default 50)", "integer"),
        ], "Stories"),
        "/api/v1/explain": {"post": {
            "summary": "Why each topic would or would not fire on a text or a feed URL",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [
                    {"type": "object", "required": ["text"],
                     "properties": {"text": _STR, "title": _STR}},
                    {"type": "object", "required": ["url"], "properties": {"url": _STR}},
                ]}}}},
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Explained"}}}},
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "422": {"$ref": "#/components/responses/Error"},
            },
        }},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {"Error": {"description": "What is wrong", "content": {
            "application/json": {"schema": {"type": "object", "required": ["error"],
                                            "properties": {"error": _STR}}}}}},
        "schemas": {
            "Alert": {"type": "object", "required": ["id", "topic", "created_at", "article"],
                      "properties": {
                "id": _STR, "created_at": {"type": "string", "format": "date-time"},
                "topic": {"type": "object", "properties": {"id": _STR, "title": _STR}},
                "matched": {"type": "array", "items": _STR},
                "found": {"type": "array", "items": _STR}, "snippet": _STR,
                "article": {"type": "object", "properties": {
                    "source": _STR, "title": _STR, "url": _NSTR, "location": _STR,
                    "published": _NSTR, "content_hash": _STR}},
            }},
            "AlertPage": {"type": "object", "properties": {
                "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
                "next_cursor": _NSTR}},
            "Source": {"type": "object", "properties": {
                "id": _STR, "kind": _STR, "url": _NSTR, "origin": _STR,
                "active": {"type": "boolean"}, "disabled_reason": _NSTR,
                "last_poll_at": _NSTR, "last_result": _NSTR, "last_success_at": _NSTR,
                "last_error_at": _NSTR, "last_error": _NSTR,
                "consecutive_failures": {"type": "integer"}, "next_poll_at": _NSTR}},
            "SourcePage": {"type": "object", "properties": {
                "sources": {"type": "array", "items": {"$ref": "#/components/schemas/Source"}},
                "next_cursor": _NSTR}},
            "Topics": {"type": "object", "properties": {"topics": {"type": "array", "items": {
                "type": "object", "properties": {"id": _STR, "title": _STR,
                                                 "alerts_24h": {"type": "integer"},
                                                 "alerts_7d": {"type": "integer"}}}}}},
            "Stories": {"type": "object", "properties": {"stories": {"type": "array", "items": {
                "type": "object", "properties": {
                    "id": _STR, "topics": {"type": "array", "items": _STR},
                    "copies": {"type": "array", "items": {"type": "object", "properties": {
                        "content_hash": _STR, "source": _STR, "title": _STR,
                        "first_seen": _STR, "similarity": {"type": ["number", "null"]},
                        "topics": {"type": "array", "items": _STR}}}}}}}}},
            "Explained": {"type": "object", "properties": {"entries": {"type": "array"}}},
        },
    },
}  # fmt: skip
