"""The web page and API (monitor/web/): security first (Host, token, sessions, feed keys,
CSRF, headers), then the pages, the Atom feeds, the API and keyset pagination, on a real
SQLite file (and PostgreSQL where the store is queried) through Starlette's test client.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from starlette.testclient import TestClient

from monitor.app import App, make_app
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.metrics import Health
from monitor.models import Alert, Article, TopicRef
from monitor.pipeline import alert_id
from monitor.store import NewDelivery, Store
from monitor.text import content_hash
from monitor.web import Web
from monitor.web.routes import build_asgi
from monitor.web.security import SIGNIN_FAILURES
from tests.conftest import SEEDS, Clock
from tests.hostile.corpus import XSS_VECTORS

PORT = 9464
BASE = f"http://127.0.0.1:{PORT}"
TOKEN = "t" * 40
ATOM = "{http://www.w3.org/2005/Atom}"


def configure(workdir: Path, http: str, env: dict[str, str] | None = None) -> App:
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text() + f"\n[http]\n{http}\n")
    app = make_app(load_config(toml, env=env or {"WEB_TOKEN": TOKEN}))
    app.start()
    return app


def client(app: App, base: str = BASE) -> TestClient:
    health = Health(1.0)
    health.tick()
    health.db_ok()
    return TestClient(build_asgi(Web(app, health)), base_url=base, follow_redirects=False)


def store_alert(
    app: App, *, title: str, url: str | None = "https://example.org/a", topic: str = "putin",
    text: str = "普丁訪問北韓", snippet: str | None = None, at: datetime | None = None,
    source: str = "inbox",
) -> Alert:  # fmt: skip
    body = f"{title}\n{text}"
    article = Article(source, f"{title[:20]}.txt", url, None, title, text, None, content_hash(body))
    created = at or datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    alert = Alert(
        alert_id(article.content_hash, topic), TopicRef(topic, topic.title()), article,
        ("普京",), ("普丁",), snippet if snippet is not None else text[:200], created,
    )  # fmt: skip
    assert app.store.add_article(article, [alert], [], created)
    return alert


@pytest.fixture
def open_app(workdir: Path) -> Iterator[App]:
    app = configure(workdir, f'listen = "127.0.0.1:{PORT}"')
    yield app
    app.close()


@pytest.fixture
def token_app(workdir: Path) -> Iterator[App]:
    app = configure(
        workdir,
        f'listen = "127.0.0.1:{PORT}"\ntoken = {{ env = "WEB_TOKEN" }}\n'
        'hosts = ["monitor.example.org"]\npublic_url = "https://monitor.example.org"',
    )
    yield app
    app.close()


def signin_fields(c: TestClient) -> dict[str, str]:
    """GET the sign-in form as a browser does: its CSRF cookie and the form's token."""
    page = c.get("/signin")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/signin" in cookie
    if "Secure" in cookie:  # the test client sends no Secure cookie over http: by hand
        value = re.match(r"monitor_signin=([^;]+)", cookie)
        assert value
        c.cookies.set("monitor_signin", value[1])
    return {"csrf": csrf_of(page.text)}


def signed_in(app: App) -> TestClient:
    c = client(app)
    response = c.post("/signin", data={"token": TOKEN, "next": "/sources", **signin_fields(c)})
    assert response.status_code == 303 and response.headers["location"] == "/sources"
    # The cookie is Secure (public_url is https): set it by hand for this plain-HTTP client.
    value = re.match(r"monitor_session=([^;]+)", response.headers["set-cookie"])
    assert value
    c.cookies.set("monitor_session", value[1])
    assert c.get("/sources").status_code == 200
    return c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, html
    return m[1]


# --- configuration -------------------------------------------------------------------------


def test_token_must_be_a_long_secret_reference_and_edit_needs_one(workdir: Path) -> None:
    toml = workdir / "monitor.toml"
    base = toml.read_text()
    toml.write_text(base + '\n[http]\nlisten = "127.0.0.1:9464"\ntoken = "' + "x" * 40 + '"\n')
    with pytest.raises(ConfigError, match="must be a secret reference"):
        load_config(toml, env={})
    toml.write_text(base + '\n[http]\ntoken = { env = "T" }\n')
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        load_config(toml, env={"T": "short"})
    toml.write_text(base + "\n[http]\nallow_edit = true\n")
    with pytest.raises(ConfigError, match=r"allow_edit.*needs \[http\] token"):
        load_config(toml, env={})
    toml.write_text(base + '\n[http]\npublic_url = "ftp://x"\n')
    with pytest.raises(ConfigError, match="http"):
        load_config(toml, env={})


def store_hostile_corpus(store: Store, at: datetime) -> list[Alert]:
    """G1's XSS and hostile-title feeds through the real path (feed parsing, extraction), each
    surviving entry stored with an alert: what the pages and feeds must then show as text."""
    from monitor.extract import extract
    from monitor.sources.feed import entry_item, parse_feed
    from tests.hostile import corpus

    stored = []
    for n, feed in enumerate((corpus._xss_feed(), corpus._titles_feed())):
        entries, _ttl = parse_feed(feed, {}, "http://127.0.0.1/feed.xml")
        for m, entry in enumerate(entries):
            article = extract(entry_item(entry, "fuzz", "http://127.0.0.1/feed.xml", at))
            created = at + timedelta(seconds=n * 1000 + m)
            alert = Alert(
                alert_id(article.content_hash, "putin"), TopicRef("putin", "Putin"), article,
                ("probe",), ("probe",), (article.title + " " + article.text)[:200], created,
            )  # fmt: skip
            if store.add_article(article, [alert], [], created):
                stored.append(alert)
    assert len(stored) > 40
    return stored


# --- security ------------------------------------------------------------------------------


def test_health_and_metrics_stay_open_whatever_the_host_and_mode(token_app: App) -> None:
    c = client(token_app, "http://scraper.internal:9464")
    assert c.get("/healthz").text == "ok\n"
    metrics = c.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert c.post("/metrics").status_code == 405
    assert c.head("/healthz").content == b""


def test_unknown_host_is_refused_known_names_pass(open_app: App) -> None:
    assert client(open_app, "http://evil.example:9464").get("/").status_code == 400
    assert client(open_app, "http://127.0.0.1:9999").get("/").status_code == 400
    for base in (BASE, f"http://localhost:{PORT}", f"http://[::1]:{PORT}"):
        assert client(open_app, base).get("/").status_code == 200, base


def test_every_response_has_the_security_headers(open_app: App) -> None:
    for path in ("/", "/sources", "/nope", "/api/v1/topics", "/alerts.atom", "/static/style.css"):
        headers = client(open_app).get(path).headers
        assert headers["content-security-policy"].startswith("default-src 'self'"), path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"


def assert_secured(response: httpx.Response) -> None:
    """The security headers, whatever the status (a 500 included)."""
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_non_ascii_credentials_are_refused_not_a_500(token_app: App) -> None:
    """`hmac.compare_digest` raises TypeError on a str with a non-ASCII character: a feed key,
    a session cookie or a form's CSRF token with one was a 500 without the headers."""
    reader = client(token_app)
    feed = reader.get("/alerts.atom?key=%C3%A9")
    assert feed.status_code == 401
    assert_secured(feed)
    cookie = reader.get(
        "/api/v1/topics", headers={"cookie": "monitor_session=9999999999.ab.é".encode()}
    )
    assert cookie.status_code == 401
    assert_secured(cookie)
    c = signed_in(token_app)
    form = c.post("/explain", data={"text": "x", "csrf": "é"}, headers={"origin": BASE})
    assert form.status_code == 403
    assert_secured(form)


def test_an_error_in_the_guard_is_a_500_with_the_headers(
    token_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.web.security import Signer

    def broken(*args: object) -> bool:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Signer, "feed_key_ok", broken)
    health = Health(1.0)
    c = TestClient(build_asgi(Web(token_app, health)), base_url=BASE, raise_server_exceptions=False)
    response = c.get("/alerts.atom?key=x")
    assert response.status_code == 500
    assert_secured(response)


def test_non_loopback_without_token_serves_only_health_and_metrics(workdir: Path) -> None:
    app = configure(workdir, f'listen = "0.0.0.0:{PORT}"\nhosts = ["box.lan"]')
    try:
        c = client(app, f"http://box.lan:{PORT}")
        assert c.get("/healthz").status_code == 200
        page = c.get("/")
        assert page.status_code == 403 and "[http] token" in page.text
        assert c.get("/api/v1/alerts").status_code == 403
    finally:
        app.close()


def test_token_mode_signs_in_with_a_strict_cookie(token_app: App) -> None:
    c = client(token_app)
    first = c.get("/topics/putin?x=1")
    assert first.status_code == 303
    assert first.headers["location"] == "/signin?next=%2Ftopics%2Fputin%3Fx%3D1"
    assert c.get("/api/v1/alerts").status_code == 401
    assert c.get("/alerts.atom").status_code == 401
    response = c.post(
        "/signin", data={"token": TOKEN, "next": "//evil.example/", **signin_fields(c)}
    )
    assert response.headers["location"] == "/"  # never an open redirect
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    # The cookie is Secure (public_url is https): the test client sends it over http anyway.
    value = re.match(r"monitor_session=([^;]+)", cookie)
    assert value
    c.cookies.set("monitor_session", value[1])
    assert c.get("/").status_code == 200
    forged = value[1][:-1] + ("1" if value[1].endswith("0") else "0")
    c.cookies.set("monitor_session", forged)
    assert c.get("/").status_code == 303


def test_sign_in_is_rate_limited(token_app: App) -> None:
    c = client(token_app)
    form = signin_fields(c)
    for _ in range(SIGNIN_FAILURES):
        assert c.post("/signin", data={"token": "wrong", **form}).status_code == 401
    assert c.post("/signin", data={"token": TOKEN, **form}).status_code == 429  # even right


def test_sign_in_needs_its_form_token_and_cookie(token_app: App) -> None:
    """A signed double-submit: the form's token is the HMAC of the nonce in the form's own
    cookie, so a page elsewhere can neither post the form nor make a token that passes."""
    c = client(token_app)
    bare = c.post("/signin", data={"token": TOKEN})
    assert bare.status_code == 403 and "out of date" in bare.text
    assert "monitor_session" not in bare.headers.get("set-cookie", "")
    form = signin_fields(c)
    forged = c.post("/signin", data={"token": TOKEN, "csrf": "0" * 32})
    assert forged.status_code == 403
    other = client(token_app)  # the token of one form, without its cookie
    assert other.post("/signin", data={"token": TOKEN, **form}).status_code == 403
    for _ in range(SIGNIN_FAILURES):  # refused forms are no failed sign-ins
        assert other.post("/signin", data={"token": "wrong"}).status_code == 403
    # Another GET of the form (a second tab; a browser's /favicon.ico is a 404, never a
    # redirect here) keeps the nonce: the form already open stays valid.
    assert signin_fields(c) == form
    assert c.get("/favicon.ico").status_code == 404
    ok = c.post("/signin", data={"token": TOKEN, **form})
    assert ok.status_code == 303 and "monitor_session=" in ok.headers["set-cookie"]


def test_an_api_post_with_the_session_cookie_needs_the_csrf_header(token_app: App) -> None:
    """A browser's API POST rides on its cookie: it must carry the page's CSRF token in
    X-CSRF-Token; a script with the Bearer token needs none."""
    c = signed_in(token_app)
    body = {"title": "普丁訪問北韓", "text": ""}
    refused = c.post("/api/v1/explain", json=body, headers={"origin": BASE})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]
    wrong = c.post("/api/v1/explain", json=body, headers={"x-csrf-token": "0" * 32})
    assert wrong.status_code == 403
    csrf = csrf_of(c.get("/explain").text)
    ok = c.post("/api/v1/explain", json=body, headers={"x-csrf-token": csrf, "origin": BASE})
    assert ok.status_code == 200 and ok.json()["entries"]
    script = client(token_app)
    bearer = script.post("/api/v1/explain", json=body,
                         headers={"authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert bearer.status_code == 200


def test_the_api_takes_a_bearer_token(token_app: App) -> None:
    c = client(token_app)
    ok = c.get("/api/v1/topics", headers={"authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["topics"]
    wrong = c.get("/api/v1/topics", headers={"authorization": f"Bearer {TOKEN[:-1]}"})
    assert wrong.status_code == 401 and wrong.json()["error"]


def test_feed_keys_open_one_feed_each(token_app: App) -> None:
    c = signed_in(token_app)
    page = c.get("/topics/putin").text
    m = re.search(r'href="(/topics/putin\.atom\?key=[0-9a-f]+)"', page)
    assert m, page
    reader = client(token_app)  # no cookie, no header: a feed reader
    assert reader.get(m[1]).status_code == 200
    key = m[1].split("key=")[1]
    assert reader.get(f"/alerts.atom?key={key}").status_code == 401  # another feed
    assert reader.get(f"/topics/putin?key={key}").status_code == 303  # not a page key
    everything = re.search(r'href="(/alerts\.atom\?key=[0-9a-f]+)"', c.get("/").text)
    assert everything and reader.get(everything[1]).status_code == 200


def test_a_feed_read_with_its_key_links_to_itself_with_the_key(token_app: App) -> None:
    """rel="self" is the address the reader subscribed to: with its key, or a reader that
    follows it gets 401; a signed-in browser's copy has no key to keep."""
    c = signed_in(token_app)
    m = re.search(r'href="/topics/putin\.atom\?key=([0-9a-f]+)"', c.get("/topics/putin").text)
    assert m

    def self_link(body: bytes) -> str | None:
        feed = ET.fromstring(body)
        link = next(x for x in feed.findall(f"{ATOM}link") if x.get("rel") == "self")
        return link.get("href")

    read = client(token_app).get(f"/topics/putin.atom?key={m[1]}")
    assert read.status_code == 200
    assert self_link(read.content) == f"https://monitor.example.org/topics/putin.atom?key={m[1]}"
    assert self_link(c.get("/topics/putin.atom").content) == (
        "https://monitor.example.org/topics/putin.atom"
    )


def test_posts_need_the_csrf_token_and_a_same_origin(token_app: App) -> None:
    c = signed_in(token_app)
    csrf = csrf_of(c.get("/explain").text)
    assert c.post("/explain", data={"text": "普丁\n訪問北韓"}).status_code == 403
    foreign = c.post(
        "/explain", data={"text": "x", "csrf": csrf}, headers={"origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    # Under Referrer-Policy: no-referrer a browser's form POST says `Origin: null`; then
    # Sec-Fetch-Site must say same-origin.
    for headers, status in (
        ({"origin": "null"}, 403),
        ({"origin": "null", "sec-fetch-site": "cross-site"}, 403),
        ({"origin": BASE, "sec-fetch-site": "same-site"}, 403),
        ({"origin": "null", "sec-fetch-site": "same-origin"}, 200),
    ):
        answer = c.post("/explain", data={"text": "x", "csrf": csrf}, headers=headers)
        assert answer.status_code == status, headers
    ok = c.post("/explain", data={"text": "普丁訪問\n北韓", "csrf": csrf}, headers={"origin": BASE})
    assert ok.status_code == 200 and "<mark>普丁</mark>" in ok.text


def reconfigure(app: App, http: str, env: dict[str, str]) -> None:
    """Replace the [http] table `configure` appended and apply it as a reload does."""
    toml = app.settings.path
    base = toml.read_text().rsplit("\n[http]\n", 1)[0]
    toml.write_text(f"{base}\n[http]\n{http}\n")
    app.reconfigure(load_config(toml, env=env))


def test_a_reload_applies_token_hosts_public_url_and_allow_edit(token_app: App) -> None:
    """Everything of [http] but `listen` follows a reload: a new token revokes the old one,
    sessions and feed keys at once; the Host list, absolute links and the editor follow."""
    web = Web(token_app, Health(1.0))
    c = TestClient(build_asgi(web), base_url=BASE, follow_redirects=False)
    old_bearer = {"authorization": f"Bearer {TOKEN}"}
    assert c.get("/api/v1/topics", headers=old_bearer).status_code == 200
    key = web.signer.feed_key("/alerts.atom")
    assert c.get(f"/alerts.atom?key={key}").status_code == 200
    session = web.signer.new_session(web.wall_clock())
    with_cookie = {"cookie": f"monitor_session={session}"}
    assert c.get("/api/v1/topics", headers=with_cookie).status_code == 200
    assert c.get("/watchlist", headers=old_bearer).status_code == 404
    other = client(token_app, f"http://other.example.org:{PORT}")
    assert other.get("/api/v1/topics", headers=old_bearer).status_code == 400

    new_token = "n" * 40
    reconfigure(
        token_app,
        f'listen = "127.0.0.1:{PORT}"\ntoken = {{ env = "WEB_TOKEN" }}\n'
        'hosts = ["other.example.org"]\npublic_url = "https://news.example.net"\n'
        "allow_edit = true",
        {"WEB_TOKEN": new_token},
    )
    assert c.get("/api/v1/topics", headers=old_bearer).status_code == 401
    assert c.get(f"/alerts.atom?key={key}").status_code == 401
    assert c.get("/api/v1/topics", headers=with_cookie).status_code == 401
    new_bearer = {"authorization": f"Bearer {new_token}"}
    assert c.get("/api/v1/topics", headers=new_bearer).status_code == 200
    assert c.get("/watchlist", headers=new_bearer).status_code == 200
    other = TestClient(build_asgi(web), base_url=f"http://other.example.org:{PORT}")
    assert other.get("/api/v1/topics", headers=new_bearer).status_code == 200
    gone = TestClient(build_asgi(web), base_url=f"http://monitor.example.org:{PORT}")
    assert gone.get("/api/v1/topics", headers=new_bearer).status_code == 400
    feed = c.get("/alerts.atom", headers=new_bearer).text
    assert 'href="https://news.example.net/alerts.atom"' in feed

    reconfigure(
        token_app, f'listen = "127.0.0.1:{PORT}"\ntoken = {{ env = "WEB_TOKEN" }}',
        {"WEB_TOKEN": new_token},
    )  # fmt: skip
    assert c.get("/watchlist", headers=new_bearer).status_code == 404


# --- pages ---------------------------------------------------------------------------------


def test_dashboard_lists_alerts_sources_and_the_queue_with_filters(open_app: App) -> None:
    store_alert(open_app, title="普丁訪問北韓", topic="putin")
    store_alert(open_app, title="核彈頭", text="核彈頭數量", topic="nuclear-arsenals",
                source="wire")  # fmt: skip
    c = client(open_app)
    page = c.get("/").text
    assert "普丁訪問北韓" in page and "核彈頭" in page and "deliveries pending" in page
    assert '<meta http-equiv="refresh" content="60">' in page  # fresh alerts appear by themselves
    only = c.get("/", params={"topic": "putin"}).text
    assert "普丁訪問北韓" in only and "核彈頭數量" not in only
    by_source = c.get("/", params={"source": "wire"}).text
    assert "核彈頭數量" in by_source and "普丁訪問北韓" not in by_source
    sources = c.get("/sources").text
    assert "inbox" in sources


def test_alert_pages_page_by_keyset(open_app: App) -> None:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    for n in range(120):
        store_alert(open_app, title=f"普丁 {n:03d}", at=start + timedelta(minutes=n // 2))
    c = client(open_app)
    seen: list[str] = []
    url: str | None = "/topics/putin"
    while url:
        page = c.get(url).text
        seen += re.findall(r'data-id="(alert_[0-9a-f]+)"', page)
        m = re.search(r'href="([^"]+)">older alerts', page)
        url = m[1].replace("&amp;", "&") if m else None
    assert len(seen) == 120 and len(set(seen)) == 120
    assert c.get("/topics/putin", params={"cursor": "!!"}).status_code == 400


def test_unknown_topic_is_404_and_ids_are_never_paths(open_app: App) -> None:
    c = client(open_app)
    assert c.get("/topics/nope").status_code == 404
    assert c.get("/topics/nope.atom").status_code == 404
    assert c.get("/topics/..%2F..%2Fmonitor.toml").status_code == 404
    assert c.get("/alerts/alert_0").status_code == 404


def test_an_alert_links_to_its_explanation(open_app: App) -> None:
    alert = store_alert(open_app, title="普丁訪問北韓", text="普丁今日抵達平壤，會見金正恩。")
    c = client(open_app)
    dashboard = c.get("/").text
    assert f'href="/alerts/{alert.id}"' in dashboard
    page = c.get(f"/alerts/{alert.id}").text
    assert "fires" in page and "<mark>普丁</mark>" in page and "抵達平壤" in page


# --- Atom ----------------------------------------------------------------------------------


def test_atom_feeds_are_valid_and_stable(open_app: App) -> None:
    with_url = store_alert(open_app, title="普丁訪問北韓", url="https://example.org/a")
    without = store_alert(open_app, title="普丁再訪", url=None, text="普丁再次訪問",
                          at=datetime(2026, 11, 23, 9, tzinfo=UTC))  # fmt: skip
    c = client(open_app)
    response = c.get("/topics/putin.atom")
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{required}") is not None, required
    assert feed.findtext(f"{ATOM}updated") == "2026-11-23T09:00:00Z"
    entries = {e.findtext(f"{ATOM}id"): e for e in feed.findall(f"{ATOM}entry")}
    assert set(entries) == {f"urn:monitor:{with_url.id}", f"urn:monitor:{without.id}"}

    def alternate(alert: Alert) -> str | None:
        entry = entries[f"urn:monitor:{alert.id}"]
        link = next(x for x in entry.findall(f"{ATOM}link") if x.get("rel") == "alternate")
        return link.get("href")

    assert alternate(with_url) == "https://example.org/a"
    assert alternate(without) == f"{BASE}/alerts/{without.id}"
    entry = entries[f"urn:monitor:{with_url.id}"]
    assert entry.findtext(f"{ATOM}updated") == "2026-11-23T08:00:00Z"
    assert entry.findtext(f"{ATOM}summary") == with_url.snippet
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo and parsed.version == "atom10" and len(parsed.entries) == 2
    # Conditional GET: the same feed is 304 by ETag and by date.
    etag, modified = response.headers["etag"], response.headers["last-modified"]
    assert c.get("/topics/putin.atom", headers={"if-none-match": etag}).status_code == 304
    assert c.get("/topics/putin.atom", headers={"if-modified-since": modified}).status_code == 304
    store_alert(
        open_app, title="普丁三訪", text="普丁三訪", at=datetime(2026, 11, 23, 10, tzinfo=UTC)
    )
    assert c.get("/topics/putin.atom", headers={"if-none-match": etag}).status_code == 200
    assert c.get("/topics/putin.atom", headers={"if-modified-since": modified}).status_code == 200
    assert c.get("/alerts.atom").status_code == 200


# --- hostile input -------------------------------------------------------------------------


def test_hostile_corpus_reaches_pages_and_feeds_as_text(open_app: App) -> None:
    """G1's XSS vectors, bad links and hostile titles (CRLF, controls, bidi), parsed and
    extracted as feeds are, then stored, plus the raw vectors as titles, snippets and URLs: no
    tag, handler or script URL of theirs reaches a page or a feed."""
    alerts = store_hostile_corpus(open_app.store, datetime(2026, 11, 22, tzinfo=UTC))
    for n, vector in enumerate(XSS_VECTORS):
        alerts.append(
            store_alert(
                open_app,
                title=f"普丁 {vector}\r\nInjected: header",
                text=f"普丁 {vector} {n}",
                snippet=f"{vector}\x00\x1b",
                url=vector if ":" in vector else "javascript:alert(1)",
                at=datetime(2026, 11, 23, 8, tzinfo=UTC) + timedelta(seconds=n),
            )
        )
    c = client(open_app)
    pages = [c.get("/").text, c.get("/topics/putin").text]
    pages += [c.get(f"/alerts/{a.id}").text for a in alerts]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]  # shown, as text
    for page in pages:
        assert "<script" not in page.lower()
        assert not re.search(r"<[a-z]+[^>]*\son[a-z]+\s*=", page, re.IGNORECASE)
        assert not re.search(r"""href=["']?\s*(javascript|data|vbscript):""", page, re.I)
        assert "<img" not in page.lower() and "<iframe" not in page.lower()
    for path in ("/alerts.atom", "/topics/putin.atom"):
        body = c.get(path).content
        feed = ET.fromstring(body)  # well-formed: no control character got through
        for link in feed.iter(f"{ATOM}link"):
            assert (link.get("href") or "").startswith(("http://", "https://"))
        assert b"<script" not in body.lower()
    api = c.get("/api/v1/alerts", params={"limit": "500"})
    assert api.status_code == 200 and len(api.json()["alerts"]) == len(alerts)


# --- API -----------------------------------------------------------------------------------


def test_api_alerts_filters_and_pages(open_app: App) -> None:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    for n in range(30):
        store_alert(open_app, title=f"普丁 {n}", at=start + timedelta(hours=n),
                    source="wire" if n % 3 == 0 else "inbox")  # fmt: skip
    c = client(open_app)
    got: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        page = c.get("/api/v1/alerts", params=params).json()
        got += page["alerts"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(got) == 30 and len({a["id"] for a in got}) == 30
    times = [a["created_at"] for a in got]
    assert times == sorted(times, reverse=True)
    wire = c.get("/api/v1/alerts", params={"source": "wire"}).json()["alerts"]
    assert len(wire) == 10 and {a["article"]["source"] for a in wire} == {"wire"}
    window = c.get(
        "/api/v1/alerts", params={"since": "2026-11-20T05:00:00Z", "until": "2026-11-20T08:00:00Z"}
    ).json()["alerts"]
    assert [a["created_at"] for a in window] == [
        "2026-11-20T07:00:00Z", "2026-11-20T06:00:00Z", "2026-11-20T05:00:00Z"
    ]  # fmt: skip
    assert c.get("/api/v1/alerts", params={"limit": "0"}).json()["error"].startswith("limit")
    assert c.get("/api/v1/alerts", params={"since": "yesterday"}).status_code == 400
    assert c.get("/api/v1/alerts", params={"since": "2026-11-20T05:00:00"}).status_code == 400


def test_api_sources_topics_explain_and_openapi(open_app: App) -> None:
    c = client(open_app)
    sources = c.get("/api/v1/sources").json()
    assert [s["id"] for s in sources["sources"]] == ["inbox"]
    assert sources["next_cursor"] is None
    topics = {t["id"] for t in c.get("/api/v1/topics").json()["topics"]}
    assert "putin" in topics
    explained = c.post("/api/v1/explain", json={"title": "普丁訪問北韓", "text": ""}).json()
    fired = {t["topic"] for t in explained["entries"][0]["topics"] if t["matched"]}
    assert "putin" in fired
    assert c.post("/api/v1/explain", content=b"text=x").status_code == 400
    private = c.post("/api/v1/explain", json={"url": "http://127.0.0.1:1/feed"})
    assert private.status_code == 422 and "private" in private.json()["error"].lower()
    spec = c.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/api/v1/alerts" in spec["paths"]


def test_explain_by_url_fetches_with_the_fetch_settings(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page and the API fetch a URL with [fetch]'s limits, as the daemon's feeds are
    fetched: a body over `max_body` is refused for the reason a feed's poll would give."""
    from tests.hostile.server import HostileServer, Route

    item = "<item><title>普丁訪問北韓</title><description>{}</description></item>"
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        + item.format("北韓 " * 1000)
        + "</channel></rss>"
    ).encode()
    assert len(feed) > 4096
    server = HostileServer()
    server.routes["/feed.xml"] = Route(feed, headers={"content-type": "application/rss+xml"})
    # The test server is on loopback, which the page never fetches: let this one through.
    monkeypatch.setattr("monitor.sources.http.is_public_address", lambda address: True)
    app = configure(workdir, f'listen = "127.0.0.1:{PORT}"')
    try:
        c = client(app)
        url = server.url("/feed.xml")
        fetched = c.post("/api/v1/explain", json={"url": url})
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["entries"][0]["title"] == "普丁訪問北韓"
        reconfigure(app, f'listen = "127.0.0.1:{PORT}"\n[fetch]\nmax_body = "4KiB"', {})
        refused = c.post("/api/v1/explain", json={"url": url})
        assert refused.status_code == 422
        assert refused.json()["error"] == "body larger than 4096 bytes (decoded)"
        csrf = csrf_of(c.get("/explain").text)
        page = c.post("/explain", data={"url": url, "csrf": csrf}, headers={"origin": BASE})
        assert "body larger than 4096 bytes (decoded)" in page.text
    finally:
        app.close()
        server.close()


def test_explaining_reuses_the_compiled_watchlist(
    open_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiling a large watchlist takes a fifth of a second: the pages and the API explain
    with the pipeline's compiled one, and never compile one on the event loop."""
    from monitor.match import Matcher

    alert = store_alert(open_app, title="普丁訪問北韓", text="普丁今日抵達平壤。")
    compiled: list[str] = []
    real_init = Matcher.__init__

    def counting(self: Matcher, *args: object, **kwargs: object) -> None:
        compiled.append("compiled")
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Matcher, "__init__", counting)
    c = client(open_app)
    assert "<mark>普丁</mark>" in c.get(f"/alerts/{alert.id}").text
    csrf = csrf_of(c.get("/explain").text)
    page = c.post("/explain", data={"text": "普丁\n訪問", "csrf": csrf}, headers={"origin": BASE})
    assert "<mark>普丁</mark>" in page.text
    api = c.post("/api/v1/explain", json={"title": "普丁", "text": ""})
    assert any(t["matched"] for t in api.json()["entries"][0]["topics"])
    assert compiled == []


def test_sources_page_by_keyset(
    workdir: Path, clock: Clock, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    app = configure(workdir, f'listen = "127.0.0.1:{PORT}"')
    try:
        rows = [(f"feed-{n:04d}", "feed", f"https://example.org/{n}", None) for n in range(250)]
        rows.append(("inbox", "folder", str(workdir / "inbox"), None))
        app.store.sync_sources(rows, clock())
        c = client(app)
        ids: list[str] = []
        url: str | None = "/sources"
        while url:
            page = c.get(url).text
            ids += re.findall(r'<tr class="source"><td>([a-z0-9-]+)', page)
            m = re.search(r'href="([^"]+)">more sources', page)
            url = m[1] if m else None
        assert ids == sorted(ids) and len(ids) == 251
    finally:
        app.close()


def test_the_dashboard_links_to_every_failing_source(open_app: App, clock: Clock) -> None:
    """The dashboard lists the 20 longest failing; a link leads to all of them, on pages of
    /sources?health=failing by keyset (never OFFSET)."""
    from monitor.store.schema import sources

    rows = [(f"feed-{n:03d}", "feed", f"https://example.org/{n}", None) for n in range(250)]
    rows.append(("inbox", "folder", open_app.settings.folders[0].source.target(), None))
    open_app.store.sync_sources(rows, clock())
    failing = {f"feed-{n:03d}" for n in range(0, 250, 2)}  # 125 of them
    with open_app.store.engine.begin() as connection:
        connection.execute(
            sources.update().where(sources.c.id.in_(failing)).values(consecutive_failures=3)
        )
        connection.execute(sources.update().where(sources.c.id == "feed-001").values(active=False))
    c = client(open_app)
    dashboard = c.get("/").text
    link = re.search(
        r'<a href="(/sources\?health=failing)" id="all-failing">all 125 failing', dashboard
    )
    assert link, dashboard
    ids: list[str] = []
    url: str | None = link[1]
    while url:
        page = c.get(url).text
        ids += re.findall(r'<tr class="source"><td>([a-z0-9-]+)', page)
        m = re.search(r'href="([^"]+)">more sources', page)
        url = m[1].replace("&amp;", "&") if m else None
    assert ids == sorted(failing)
    disabled = c.get("/sources", params={"health": "disabled"}).text
    assert re.findall(r'<tr class="source"><td>([a-z0-9-]+)', disabled) == ["feed-001"]
    assert c.get("/sources", params={"health": "sick"}).status_code == 400
    api = c.get("/api/v1/sources", params={"health": "failing", "limit": "500"}).json()
    assert len(api["sources"]) == 125 and api["next_cursor"] is None


def test_store_views_on_each_database(store: Store, clock: Clock) -> None:
    """The keyset queries behind the pages, on SQLite and PostgreSQL alike."""
    start = datetime(2026, 11, 20, tzinfo=UTC)
    for n in range(12):
        text = f"普丁 {n}"
        article = Article("wire" if n % 2 else "inbox", f"{n}.txt", None, None, text, text,
                          None, content_hash(text))  # fmt: skip
        at = start + timedelta(minutes=n // 3)  # three alerts share each time: ids break ties
        alert = Alert(alert_id(article.content_hash, "putin"), TopicRef("putin", "Putin"),
                      article, ("普京",), ("普丁",), text, at)  # fmt: skip
        delivery = NewDelivery(f"msg_{n}", alert.id, "ops")
        store.add_article(article, [alert], [delivery], at)
    seen: list[str] = []
    before = None
    while page := store.alerts_page(topic="putin", before=before, limit=5):
        seen += [a.id for a in page]
        before = (page[-1].created_at, page[-1].id)
    assert len(seen) == 12 == len(set(seen))
    assert len(store.alerts_page(source="wire")) == 6
    assert len(store.alerts_page(since=start + timedelta(minutes=3))) == 3
    assert store.alert(seen[0]) == store.alerts_page(limit=1)[0]
    store.sync_sources([(f"s{n}", "feed", f"https://example.org/{n}", None) for n in range(7)],
                       clock())  # fmt: skip
    assert [s.id for s in store.sources_page(after="s2", limit=3)] == ["s3", "s4", "s5"]
    assert store.source_counts().total == 7
    assert store.failing_sources() == []
    now = start + timedelta(hours=12)
    assert store.topic_counts(now) == {"putin": (12, 12)}
    assert store.topic_counts(now, ["putin", "nuclear", "putin"]) == {"putin": (12, 12)}
    assert store.topic_counts(now + timedelta(days=3), ["putin"]) == {"putin": (0, 12)}
    assert store.topic_counts(now + timedelta(days=8), ["putin"]) == {}
    store.mark_sent_many(["msg_0", "msg_1", "msg_2"], start)
    store.mark_sent_many(["msg_3"], start - timedelta(days=2))
    store.mark_failed("msg_4", start, "HTTP 503", start + timedelta(minutes=5))
    store.mark_failed("msg_5", start, "HTTP 404", None)
    assert store.queue_summary(now) == {"pending": 7, "failing": 1, "dead": 1, "sent_24h": 3}


# The only whole reads allowed: the newest alerts (read in index order, stopped by LIMIT), and
# the count of every source by health (which needs every source: from the smallest index).
WHOLE_INDEX_READS = {
    "SCAN CONSTANT ROW",
    "SCAN alerts USING INDEX ix_alerts_created_id",
    "SCAN sources USING COVERING INDEX ix_sources_health",
}


def test_the_pages_queries_read_index_ranges(open_app: App) -> None:
    """SQLite's plan of every statement behind the dashboard and the lists (as bench/web.py
    --plans prints them): index ranges, no whole table or index but the two above. The
    delivery queue's counts used to read every delivery ever sent, at each dashboard load."""
    import sqlalchemy as sa

    from bench.web import page_queries

    engine = open_app.store.engine
    sent: list[tuple[str, object]] = []

    def capture(conn: object, cursor: object, statement: str, parameters: object,
                *args: object) -> None:  # fmt: skip
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        for call in page_queries(open_app.store).values():
            call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert len(sent) >= 10
    with engine.connect() as c:
        for statement, parameters in sent:
            plan = [row[-1] for row in c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                         parameters)]  # type: ignore[arg-type]  # fmt: skip
            scans = [p for p in plan if p.startswith("SCAN ") and p not in WHOLE_INDEX_READS]
            assert scans == [], (statement, plan)


# --- the watchlist editor ------------------------------------------------------------------


@pytest.fixture
def edit_app(workdir: Path) -> Iterator[App]:
    app = configure(
        workdir, f'listen = "127.0.0.1:{PORT}"\ntoken = {{ env = "WEB_TOKEN" }}\nallow_edit = true'
    )
    yield app
    app.close()


def editor_client(app: App, reloads: list[str]) -> TestClient:
    health = Health(1.0)

    async def reload() -> bool:
        reloads.append("reload")
        return True

    web = Web(app, health, reload=reload, reload_result=lambda: "ok")
    c = TestClient(build_asgi(web), base_url=BASE, follow_redirects=False)
    response = c.post("/signin", data={"token": TOKEN, "next": "/watchlist", **signin_fields(c)})
    assert response.status_code == 303
    return c


def editor_form(page: str) -> dict[str, str]:
    loaded = re.search(r'name="loaded" value="([0-9a-f]*)"', page)
    assert loaded
    return {"csrf": csrf_of(page), "loaded": loaded[1]}


def test_editor_is_only_served_with_allow_edit(token_app: App) -> None:
    assert signed_in(token_app).get("/watchlist").status_code == 404


def test_editor_preview_shows_what_an_edit_adds_and_removes(edit_app: App) -> None:
    now = datetime.now(UTC)  # the preview reads the articles first seen in the last 7 days
    for title, text in (("普丁訪問北韓", "普丁今日抵達平壤。"), ("核彈頭", "核彈頭數量增加")):
        article = Article(
            "inbox", f"{title}.txt", None, None, title, text, None, content_hash(text)
        )
        edit_app.store.add_article(article, [], [], now)
    old = Article("inbox", "old.txt", None, None, "普丁", "普丁舊聞", None, content_hash("old"))
    edit_app.store.add_article(old, [], [], now - timedelta(days=8))  # outside the window
    c = editor_client(edit_app, [])
    page = c.get("/watchlist").text
    text = edit_app.settings.watchlist_path.read_text(encoding="utf-8")
    assert "China arming Russia" in page
    edited = text.replace('id = "putin"\ntitle = "Putin"', 'id = "putin2"\ntitle = "Putin 2"', 1)
    assert edited != text
    result = c.post("/watchlist/preview", data={**editor_form(page), "text": edited})
    assert result.status_code == 200, result.text
    changes = dict(
        re.findall(
            r'<h3 class="topic-change">[^<]*<span class="muted">\((\S+)\)</span>: (\+\d+ / −\d+)',
            result.text,
        )
    )
    assert changes == {"putin": "+0 / −1", "putin2": "+1 / −0"}, result.text
    assert "2 articles in" in result.text
    same = c.post("/watchlist/preview", data={**editor_form(page), "text": text})
    assert "No change" in same.text


def test_editor_shows_errors_with_line_and_column(edit_app: App) -> None:
    c = editor_client(edit_app, [])
    page = c.get("/watchlist").text
    broken = c.post(
        "/watchlist/preview", data={**editor_form(page), "text": "topics = [\n  {id = }\n"}
    )
    assert broken.status_code == 422
    assert re.search(r"line 2, column \d+", broken.text), broken.text
    unknown = c.post(
        "/watchlist/save",
        data={
            **editor_form(page),
            "text": '[[topics]]\nid = "x"\ntitle = "X"\nany = ["a"]\nnotfy = 1\n',
        },
    )
    assert unknown.status_code == 422 and "line 5" in unknown.text and "not saved" in unknown.text


def test_editor_saves_atomically_through_a_symlink_and_reloads(
    edit_app: App, tmp_path: Path
) -> None:
    path = edit_app.settings.watchlist_path
    real = tmp_path / "real" / "watchlist.toml"
    real.parent.mkdir()
    real.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    real.chmod(0o640)
    path.unlink()
    path.symlink_to(real)
    reloads: list[str] = []
    c = editor_client(edit_app, reloads)
    page = c.get("/watchlist").text
    edited = (
        real.read_text(encoding="utf-8")
        + '\n[[topics]]\nid = "new"\ntitle = "New"\nany = ["新詞"]\n'
    )
    saved = c.post("/watchlist/save", data={**editor_form(page), "text": edited})
    assert saved.status_code == 200, saved.text
    assert 'id="reload-result">ok<' in saved.text and reloads == ["reload"]
    assert path.is_symlink() and real.read_text(encoding="utf-8") == edited
    assert real.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in real.parent.iterdir()] == ["watchlist.toml"]  # no temporary left


def test_a_stale_editor_save_is_refused_with_the_difference(edit_app: App) -> None:
    path = edit_app.settings.watchlist_path
    first, second = editor_client(edit_app, []), editor_client(edit_app, [])
    page_one, page_two = first.get("/watchlist").text, second.get("/watchlist").text
    original = path.read_text(encoding="utf-8")
    one = original + '\n[[topics]]\nid = "one"\ntitle = "One"\nany = ["一"]\n'
    assert (
        first.post("/watchlist/save", data={**editor_form(page_one), "text": one}).status_code
        == 200
    )
    two = original + '\n[[topics]]\nid = "two"\ntitle = "Two"\nany = ["二"]\n'
    stale = second.post("/watchlist/save", data={**editor_form(page_two), "text": two})
    assert stale.status_code == 409 and "changed on disk" in stale.text
    assert "-id = &#34;one&#34;" in stale.text and "+id = &#34;two&#34;" in stale.text
    assert path.read_text(encoding="utf-8") == one


def test_check_refuses_allow_edit_on_a_folder_it_cannot_write(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.cli import main

    toml = workdir / "monitor.toml"
    toml.write_text(
        toml.read_text() + '\n[http]\ntoken = { env = "WEB_TOKEN" }\nallow_edit = true\n'
    )
    monkeypatch.setenv("WEB_TOKEN", TOKEN)
    assert main(["--config", str(toml), "check"]) == 0
    assert "editor     /watchlist saves" in capsys.readouterr().out
    real_access = os.access
    # As root every folder is writable: make this one read-only to the check, as it is to
    # the daemon's user under the shipped unit.
    monkeypatch.setattr(
        "monitor.cli.check.os.access",
        lambda path, mode: False if str(path) == str(workdir) else real_access(path, mode),
    )
    assert main(["--config", str(toml), "check"]) == 1
    assert f"{workdir} is not writable" in capsys.readouterr().out
    monkeypatch.setattr("monitor.cli.check.os.access", real_access)

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr("monitor.config.watchlist.os.statvfs", lambda path: ReadOnly())
    assert main(["--config", str(toml), "check"]) == 1
    assert f"{workdir} is on a read-only file system" in capsys.readouterr().out


def unsaveable_editor(app: App) -> None:
    """The editor of a watchlist the daemon cannot write: the page says so up front and Save
    is refused, the file untouched."""
    path = app.settings.watchlist_path
    before = path.read_text(encoding="utf-8")
    c = editor_client(app, [])
    page = c.get("/watchlist")
    assert page.status_code == 200
    notice = re.search(r'<p class="error" id="unwritable">([^<]*)</p>', page.text)
    assert notice and "cannot be saved" in notice[1] and "systemd drop-in" in notice[1]
    assert re.search(r'value="save" disabled>Save<', page.text)
    saved = c.post("/watchlist/save", data={**editor_form(page.text), "text": before + "\n"})
    assert saved.status_code == 403 and "not saved" in saved.text
    assert path.read_text(encoding="utf-8") == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to any folder, read-only or not")
def test_the_editor_says_a_read_only_folder_cannot_be_saved(edit_app: App, tmp_path: Path) -> None:
    path = edit_app.settings.watchlist_path
    real = tmp_path / "ro" / "watchlist.toml"
    real.parent.mkdir()
    real.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    path.unlink()
    path.symlink_to(real)
    real.parent.chmod(0o555)
    try:
        unsaveable_editor(edit_app)
    finally:
        real.parent.chmod(0o755)


@pytest.mark.parametrize("why", ["read-only mount", "no write permission"])
def test_the_editor_says_an_unwritable_watchlist_cannot_be_saved(
    edit_app: App, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    """What the daemon's own process may do decides (root passes os.access everywhere: the
    system calls are stubbed), be it a read-only mount (ProtectSystem=) or permissions."""
    import monitor.config.watchlist as module

    folder = str(edit_app.settings.watchlist_path.resolve().parent)
    if why == "read-only mount":
        real_statvfs = os.statvfs

        class ReadOnly:
            f_flag = os.ST_RDONLY

        monkeypatch.setattr(
            module.os, "statvfs",
            lambda p: ReadOnly() if str(p) == folder else real_statvfs(p),
        )  # fmt: skip
    else:
        real_access = os.access
        monkeypatch.setattr(
            module.os, "access",
            lambda p, mode: False if str(p) == folder else real_access(p, mode),
        )  # fmt: skip
    unsaveable_editor(edit_app)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_log(app: App, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the web server logs as the daemon starts it (then it stops)."""
    import asyncio
    import logging

    from monitor.web import WebServer

    async def start_and_stop() -> None:
        server = WebServer(Web(app, Health(1.0)))
        await server.start()
        server.stop()
        await server.wait()

    with caplog.at_level(logging.INFO, logger="monitor.web"):
        asyncio.run(start_and_stop())
    return [r.getMessage() for r in caplog.records if r.name.startswith("monitor.web")]


def test_closed_mode_says_why_at_start(workdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Not loopback and no token: the start-up line says that only /healthz and /metrics are
    served, and what would serve the rest."""
    port = free_port()
    app = configure(workdir, f'listen = "0.0.0.0:{port}"')
    try:
        lines = [line for line in start_log(app, caplog) if line.startswith("http listening")]
    finally:
        app.close()
    assert lines == [
        f"http listening address=0.0.0.0:{port} mode=closed paths=/healthz,/metrics only: set "
        "[http] token to serve the page and API on a non-loopback address"
    ]


def test_the_daemon_says_at_start_that_the_editor_cannot_save(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = configure(
        workdir,
        f'listen = "127.0.0.1:{free_port()}"\ntoken = {{ env = "WEB_TOKEN" }}\nallow_edit = true',
    )
    try:
        assert not [line for line in start_log(app, caplog) if "editor" in line]
        caplog.clear()
        folder = str(app.settings.watchlist_path.resolve().parent)
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode: False if str(p) == folder else real_access(p, mode)
        )
        lines = [line for line in start_log(app, caplog) if "editor cannot save" in line]
    finally:
        app.close()
    assert len(lines) == 1 and f"{folder} is not writable by this process" in lines[0], lines
    assert "systemd drop-in" in lines[0]


def test_a_preview_stops_at_its_limits_and_when_cancelled(
    edit_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from monitor.web import editor

    now = datetime.now(UTC)
    for n in range(3):
        text = f"普丁 {n}"
        edit_app.store.add_article(
            Article("inbox", f"{n}.txt", None, None, text, text, None, content_hash(text)),
            [],
            [],
            now,
        )
    watchlist = edit_app.settings.watchlist
    since = now - timedelta(days=1)
    cancel = threading.Event()
    full = editor.run_preview(edit_app.store, watchlist, watchlist, {}, since, cancel)
    assert (full.scanned, full.stopped) == (3, "")
    monkeypatch.setattr(editor, "PREVIEW_ARTICLES", 2)
    capped = editor.run_preview(edit_app.store, watchlist, watchlist, {}, since, cancel)
    assert (capped.scanned, capped.stopped) == (2, "stopped at 2 articles")
    ticks = iter([0.0, 0.0, 31.0, 31.0])
    timed = editor.run_preview(
        edit_app.store, watchlist, watchlist, {}, since, cancel, clock=lambda: next(ticks)
    )
    assert (timed.scanned, timed.stopped) == (1, "stopped after 30 s")
    cancel.set()
    cancelled = editor.run_preview(edit_app.store, watchlist, watchlist, {}, since, cancel)
    assert (cancelled.scanned, cancelled.stopped) == (0, "cancelled")


def test_the_daemon_keeps_its_signals_with_the_web_server_running(workdir: Path) -> None:
    """uvicorn runs in the daemon's loop without signal handlers of its own: SIGHUP still
    reloads, SIGTERM still drains and exits 0, and the port is closed afterwards."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text() + f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
    log = workdir / "daemon.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(toml), "run"],
            stdout=subprocess.DEVNULL, stderr=stderr, env=dict(os.environ),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                assert time.monotonic() < deadline, log.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            assert "mode=open" in log.read_text()
            process.send_signal(signal.SIGHUP)
            while "reloaded" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert "stopped instance=" in log.read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


def test_a_database_failure_is_a_503_that_says_so(
    open_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.errors import StoreError

    def down(*args: object, **kwargs: object) -> None:
        raise StoreError("database error: OperationalError: unable to open database file")

    monkeypatch.setattr(open_app.store, "alerts_page", down)
    c = client(open_app)
    page = c.get("/topics/putin")
    assert page.status_code == 503 and "unable to open database file" in page.text
    api = c.get("/api/v1/alerts")
    assert api.status_code == 503 and "does not answer" in api.json()["error"]
    assert c.get("/healthz").status_code == 200  # health has its own ping


def test_a_query_topic_is_explained_as_its_tree_in_the_page_and_the_api(workdir: Path) -> None:
    watchlist = workdir / "watchlist.toml"
    watchlist.write_text(
        watchlist.read_text(encoding="utf-8")
        + "\n[[topics]]\nid = \"visit\"\nquery = '普丁 NEAR/2 (北韓 OR 平壤) NOT 足球'\n",
        encoding="utf-8",
    )
    app = configure(workdir, f'listen = "127.0.0.1:{PORT}"')
    try:
        c = client(app)
        explained = c.post("/api/v1/explain", json={"title": "普丁訪問北韓", "text": ""}).json()
        visit = next(t for t in explained["entries"][0]["topics"] if t["topic"] == "visit")
        assert visit["matched"] and visit["query"]["op"] == "AND"
        near = visit["query"]["children"][0]
        assert near["op"] == "NEAR/2" and near["distance"] == 2
        csrf = csrf_of(c.get("/explain").text)
        page = c.post(
            "/explain", data={"text": "普丁訪問北韓\n內文", "csrf": csrf}, headers={"origin": BASE}
        ).text
        assert "<strong>NEAR/2</strong>" in page and "closest pair 2 tokens apart" in page
        assert "<code>足球</code>" in page
    finally:
        app.close()


def test_api_stories_lists_near_duplicate_copies_under_their_root(open_app: App) -> None:
    """Two copies of one story (the second with a wire lead-in) come back as one story with
    both copies, the root first; `topic` filters, a bad `since` is a 400."""
    body = (SEEDS / "000_e111a6c8e310c3f6.txt").read_text(encoding="utf-8")
    inbox = Path(open_app.settings.folders[0].source.target())
    (inbox / "a.txt").write_text(body, encoding="utf-8")
    open_app.run_once()
    (inbox / "b.txt").write_text("（中央社台北2日綜合外電報導）\n" + body, encoding="utf-8")
    open_app.run_once()
    c = client(open_app)
    found = c.get("/api/v1/stories", params={"since": "2000-01-01T00:00:00Z"}).json()["stories"]
    assert len(found) == 1
    copies = found[0]["copies"]
    assert [copy["similarity"] is None for copy in copies] == [True, False]
    assert copies[1]["similarity"] >= 0.65 and found[0]["id"].startswith("story_")
    other = c.get("/api/v1/stories", params={"since": "2000-01-01T00:00:00Z", "topic": "none"})
    assert other.json()["stories"] == []
    assert c.get("/api/v1/stories", params={"since": "yesterday"}).status_code == 400
    assert "/api/v1/stories" in c.get("/api/v1/openapi.json").json()["paths"]
