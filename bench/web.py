"""Web page benchmark (issue 15): server time of the dashboard, the topic and source pages, the
Atom feeds and the API over a filled database.

Fills a fresh database (SQLite file, or PostgreSQL with --postgres URL) through SQLAlchemy Core
bulk inserts: --articles (default 1,000,000, ~200 characters of text each), --alerts
(100,000 over 20 topics and 30 days, with one sent delivery each), --sources (100,000 feeds,
1 % failing, 0.5 % disabled). Then it builds the web app exactly as the daemon does
(`monitor.web.routes.build_asgi`, loopback, no token) and requests each page --repeat times
through Starlette's in-process test client (no socket: what is timed is the app, its queries
and its rendering). Printed per page: median and worst wall ms, and median CPU ms of the
process (the store's worker threads included). `--plans` prints SQLite's query plan of each
statement the store sends for the pages (the dashboard's counts included), captured as it runs
them, to check that every one reads an index (tests/test_web.py checks the same list).

    .venv/bin/python bench/web.py                           # the issue's sizes
    .venv/bin/python bench/web.py --articles 100000 --alerts 10000 --sources 10000
    .venv/bin/python bench/web.py --database /tmp/web.db    # keep the file; reuse it next time
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOPICS = [f"topic-{n:02d}" for n in range(20)]
NOW = datetime(2026, 12, 1, tzinfo=UTC)
WORDS = [
    "普丁",
    "北韓",
    "核彈頭",
    "無人機",
    "台灣",
    "北約",
    "俄羅斯",
    "中國",
    "美國",
    "會談",
    "制裁",
    "軍演",
    "the",
    "of",
    "and",
    "news",
    "report",
]


def fill(url: str, articles: int, alerts: int, sources: int, seed: int = 7) -> None:
    from monitor.store import Store
    from monitor.store.schema import alerts as alerts_t
    from monitor.store.schema import articles as articles_t
    from monitor.store.schema import deliveries as deliveries_t
    from monitor.store.schema import sources as sources_t

    rng = random.Random(seed)
    store = Store.open(url)
    store.upgrade()
    engine = store.engine
    batch = 20_000
    start = time.monotonic()
    with engine.begin() as c:
        if c.execute(sa.select(sa.func.count()).select_from(articles_t)).scalar_one():
            print("database already filled: reusing it")
            store.close()
            return
    for first in range(0, articles, batch):
        rows = []
        for n in range(first, min(first + batch, articles)):
            text = " ".join(rng.choices(WORDS, k=40))
            seen = NOW - timedelta(seconds=rng.randrange(30 * 86400))
            rows.append({
                "id": n + 1, "content_hash": f"v1:{n:064x}", "source": f"feed-{n % sources:06d}",
                "location": f"https://example.org/{n}", "url": f"https://example.org/{n}",
                "guid": f"g{n}", "title": " ".join(rng.choices(WORDS, k=8)), "text": text,
                "published": seen, "first_seen": seen, "previous_id": None,
            })  # fmt: skip
        with engine.begin() as c:
            c.execute(articles_t.insert(), rows)
        print(f"\rarticles {min(first + batch, articles):,}", end="", flush=True)
    print(f"  ({time.monotonic() - start:.0f} s)")
    ids = rng.sample(range(1, articles + 1), alerts)
    for first in range(0, alerts, batch):
        alert_rows, delivery_rows = [], []
        for n in range(first, min(first + batch, alerts)):
            alert_id = f"alert_{n:032x}"
            created = NOW - timedelta(seconds=rng.randrange(30 * 86400))
            alert_rows.append({
                "id": alert_id, "article_id": ids[n], "topic_id": TOPICS[n % len(TOPICS)],
                "topic_title": f"Topic {n % len(TOPICS)}", "matched": ["普京"], "found": ["普丁"],
                "snippet": " ".join(rng.choices(WORDS, k=30)), "created_at": created,
            })  # fmt: skip
            delivery_rows.append({
                "id": f"msg_{n:032x}", "alert_id": alert_id, "notice_id": None,
                "notifier": "archive", "status": "sent", "attempts": 1,
                "next_attempt_at": created, "last_error": None, "updated_at": created,
                "lease_owner": None, "lease_until": None, "seq": ids[n] * 4096,
            })  # fmt: skip
        with engine.begin() as c:
            c.execute(alerts_t.insert(), alert_rows)
            c.execute(deliveries_t.insert(), delivery_rows)
        print(f"\ralerts {min(first + batch, alerts):,}", end="", flush=True)
    print(f"  ({time.monotonic() - start:.0f} s)")
    for first in range(0, sources, batch):
        rows = []
        for n in range(first, min(first + batch, sources)):
            failing = n % 100 == 0
            rows.append({
                "id": f"feed-{n:06d}", "kind": "feed", "url": f"https://example.org/{n}.xml",
                "active": n % 200 != 1, "disabled_reason": None if n % 200 != 1 else "HTTP 410",
                "state": None, "next_poll_at": NOW + timedelta(seconds=n % 600),
                "hold_until": None, "lease_owner": None, "lease_until": None,
                "last_poll_at": NOW, "last_result": "failed" if failing else "ok",
                "last_success_at": NOW, "last_error_at": NOW if failing else None,
                "last_error": "HTTP 503" if failing else None,
                "consecutive_failures": 3 if failing else 0, "updated_at": NOW,
                "failing_since": NOW if failing else None, "failing_notified_at": None,
                "instance": None, "origin": "database", "options": {"url": f"https://example.org/{n}.xml"},
            })  # fmt: skip
        with engine.begin() as c:
            c.execute(sources_t.insert(), rows)
    if engine.dialect.name == "sqlite":
        with engine.begin() as c:
            c.execute(sa.text("ANALYZE"))
    else:
        with engine.begin() as c:
            c.execute(sa.text("ANALYZE"))
    print(f"filled in {time.monotonic() - start:.0f} s")
    store.close()


def app_for(url: str, folder: Path):  # type: ignore[no-untyped-def]
    from monitor.app import make_app
    from monitor.config import load_config

    (folder / "inbox").mkdir(exist_ok=True)
    watchlist = "\n".join(
        f'[[topics]]\nid = "{t}"\ntitle = "Topic {n}"\nany = ["普京", "{WORDS[n % 12]}"]\n'
        for n, t in enumerate(TOPICS)
    )
    (folder / "watchlist.toml").write_text('[aliases]\n"普京" = ["普丁"]\n' + watchlist)
    (folder / "monitor.toml").write_text(
        f'database = "{url}"\nwatchlist = "watchlist.toml"\n[http]\nlisten = "127.0.0.1:9464"\n'
        '[[notifiers]]\nname = "archive"\ntype = "jsonl"\npath = "alerts.jsonl"\n'
    )
    return make_app(load_config(folder / "monitor.toml", env={}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--sources", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", help="SQLite file to fill (or reuse); default: temporary")
    parser.add_argument("--postgres", help="a PostgreSQL URL (an empty database) instead")
    parser.add_argument("--plans", action="store_true", help="print the query plans (SQLite)")
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

    from monitor.metrics import Health
    from monitor.web import Web
    from monitor.web.routes import build_asgi

    folder = Path(tempfile.mkdtemp(prefix="monitor-bench-web-"))
    if args.postgres:
        url = args.postgres
    else:
        url = f"sqlite:///{Path(args.database).resolve() if args.database else folder / 'web.db'}"
    fill(url, args.articles, args.alerts, args.sources)
    app = app_for(url, folder)
    health = Health(1.0)
    health.tick()
    health.db_ok()
    client = TestClient(build_asgi(Web(app, health)), base_url="http://127.0.0.1:9464")
    cursor_page = client.get("/api/v1/alerts", params={"topic": "topic-03", "limit": 50}).json()
    cursor = cursor_page["next_cursor"]
    deep = client.get("/api/v1/alerts", params={"limit": 500}).json()["next_cursor"]
    pages = [
        "/",
        "/?topic=topic-03",
        "/?source=feed-000042",
        "/sources",
        f"/sources?after=feed-{args.sources // 2:06d}",
        "/sources?health=failing",
        "/topics/topic-03",
        f"/topics/topic-03?cursor={cursor}",
        "/alerts.atom",
        "/topics/topic-03.atom",
        "/api/v1/alerts?limit=100",
        f"/api/v1/alerts?limit=100&cursor={deep}",
        "/api/v1/sources?limit=100",
        "/api/v1/topics",
        f"/alerts/alert_{7:032x}",
    ]
    print(f"\n{'page':<48} {'median ms':>10} {'worst ms':>9} {'CPU ms':>7}")
    for page in pages:
        client.get(page)  # warm: templates compiled, pages cached by the database
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            response = client.get(page)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            assert response.status_code == 200, (page, response.status_code, response.text[:200])
        print(f"{page[:48]:<48} {statistics.median(walls):>10.1f} {max(walls):>9.1f} "
              f"{statistics.median(cpus):>7.1f}")  # fmt: skip
    if args.plans and url.startswith("sqlite"):
        print_plans(app.store)
    app.close()
    return 0


def page_queries(store: Any) -> dict[str, Callable[[], object]]:
    """Every store call behind the pages and the API, with arguments as the pages pass them."""
    keyset = (NOW - timedelta(days=10), "alert_x")
    return {
        "latest alerts": lambda: store.alerts_page(limit=50),
        "a topic's alerts, keyset": lambda: store.alerts_page(
            topic="topic-03", before=keyset, limit=50
        ),
        "a source's alerts": lambda: store.alerts_page(source="feed-000042", limit=50),
        "alerts in a time window (API)": lambda: store.alerts_page(
            since=NOW - timedelta(days=2), until=NOW - timedelta(days=1), limit=100
        ),
        "one alert": lambda: store.alert(f"alert_{7:032x}"),
        "sources, keyset": lambda: store.sources_page(after="feed-050000", limit=100),
        "failing sources, keyset": lambda: store.sources_page(
            after="feed-000500", limit=100, health="failing"
        ),
        "dashboard: sources by health (Views.source_counts)": store.source_counts,
        "dashboard: failing sources": lambda: store.failing_sources(20),
        "dashboard: delivery queue (Outbox.queue_summary)": lambda: store.queue_summary(NOW),
        "API topics: alerts per topic (topic_counts)": lambda: store.topic_counts(NOW, TOPICS),
    }


def print_plans(store: Any) -> None:
    """SQLite's plan of each statement the store really sends for the pages (captured as it
    runs them, so no hand-written copy of a query can drift from the code)."""
    engine: sa.Engine = store.engine
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, parameters))

    for name, call in page_queries(store).items():
        sent.clear()
        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            call()
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
        print(f"\n{name}:")
        with engine.connect() as c:
            for statement, parameters in sent:
                plan = c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
                # One line per step; a statement of many like subqueries (alerts per topic)
                # prints each step once, with how many times it occurs.
                steps: dict[str, int] = {}
                for row in plan:
                    step = re.sub(r"SCALAR SUBQUERY \d+", "SCALAR SUBQUERY", row[-1])
                    steps[step] = steps.get(step, 0) + 1
                for step, times in steps.items():
                    print("   ", step + (f" (×{times})" if times > 1 else ""))


if __name__ == "__main__":
    raise SystemExit(main())
