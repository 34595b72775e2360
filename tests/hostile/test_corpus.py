"""G1: the hostile-input corpus through the whole pipeline: loopback fetch → parse → extract →
match → store → every notifier's rendering (RELIABILITY.md §3 G1, NET-1..6, PX-1..8, HTML-1..3).

One `run --once` pass polls every hostile feed, 30 feeds on non-public address forms, and a
well-behaved control feed, with `[fetch] deadline = "2s"`. Pass criteria: the pass completes
(0 crashes) and the control feed alerts; 0 hits on the out-of-band listener; the canary file's
text appears nowhere (outputs, logs, database); every rendered alert is plain text (no tag
structure, no ESC/CR/LF/bidi in titles, only http(s) URLs). Time and memory per fetch are
measured in subprocesses (test_fetch_bounds_per_case).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest

from monitor.app import make_app
from monitor.config import load_config
from monitor.plugins import NOTIFIERS, available
from tests.conftest import CONTRACT, ROOT
from tests.hostile import corpus
from tests.hostile.server import HostileServer, Route
from tests.hostile.test_ssrf import FORMS

DEADLINE = 2.0
CANARY_TEXT = "CANARY-e3b0c44298fc-never-show-me"
TAG = re.compile(r"<\s*/?\s*[A-Za-z!?]")
BAD_SCHEME = re.compile(r"(?i)\b(javascript|vbscript|data|file)\s*:")
UNSAFE_IN_LINE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
# Notifiers whose rendering this suite knows how to capture; others are listed as skipped.
CAPTURED = ("console", "jsonl")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[HostileServer, HostileServer]]:
    server, oob = HostileServer(), HostileServer()
    yield server, oob
    server.close()
    oob.close()


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("canary") / "canary.xml"
    path.write_text(
        corpus.rss(corpus.item(f"{CANARY_TEXT} probe", f"probe {CANARY_TEXT}")).decode()
    )
    return path


@pytest.fixture(scope="module")
def cases(servers: tuple[HostileServer, HostileServer], canary: Path) -> list[corpus.Case]:
    server, oob = servers
    built = corpus.build(server, oob, str(canary))
    server.routes["/control.xml"] = Route(
        corpus.rss(corpus.item("control probe", "probe: a well-behaved feed keeps working"))
    )
    return built


def write_config(folder: Path, server: HostileServer, cases: list[corpus.Case]) -> Path:
    feeds = [
        f'[[feeds]]\nid = "{c.name}"\nurl = "{server.url(c.path)}"\nfirst_poll = "alert"\n'
        "allow_private_network = true\n"
        for c in cases
    ]
    feeds.append(f'[[feeds]]\nid = "control"\nurl = "{server.url("/control.xml")}"\n'
                 'first_poll = "alert"\nallow_private_network = true\n')  # fmt: skip
    port = server.base.rsplit(":", 1)[1]
    feeds += [
        f'[[feeds]]\nid = "ssrf-{i:02d}"\nurl = "http://{host}:{port}/control.xml"\n'
        'first_poll = "alert"\n'
        for i, (host, _meaning) in enumerate(FORMS)
    ]
    (folder / "watchlist.toml").write_text('[[topics]]\nid = "probe"\nany = ["probe"]\n')
    toml = folder / "monitor.toml"
    toml.write_text(
        'database = "sqlite:///var/monitor.db"\n'
        f'[fetch]\ndeadline = "{DEADLINE:g}s"\nconcurrency = 8\nper_host = 8\n'
        '[[notifiers]]\nname = "console"\ntype = "console"\n'
        '[[notifiers]]\nname = "archive"\ntype = "jsonl"\npath = "var/alerts.jsonl"\n'
        + "".join(feeds)
    )
    return toml


@pytest.fixture(scope="module")
def run(
    servers: tuple[HostileServer, HostileServer],
    cases: list[corpus.Case],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, object]:
    """One `run --once` pass over the whole corpus; what it printed, wrote, logged and stored."""
    import contextlib
    import io
    import logging

    folder = tmp_path_factory.mktemp("g1")
    toml = write_config(folder, servers[0], cases)
    settings = load_config(toml, env={})
    app = make_app(settings)
    app.start()
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    stdout = io.StringIO()
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(stdout):
            report = app.run_once()
        sources = {row.id: row for row in app.store.list_sources()}
    finally:
        elapsed = time.monotonic() - started
        root.removeHandler(handler)
        root.setLevel(old_level)
        app.close()
    jsonl = folder / "var" / "alerts.jsonl"
    database = b"".join(p.read_bytes() for p in (folder / "var").glob("monitor.db*"))
    return {
        "report": report,
        "sources": sources,
        "console": stdout.getvalue(),
        "jsonl": jsonl.read_text(encoding="utf-8") if jsonl.exists() else "",
        "logs": logs.getvalue(),
        "database": database,
        "elapsed": elapsed,
    }


def test_corpus_meets_the_g1_case_counts(cases: list[corpus.Case]) -> None:
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.category] = counts.get(case.category, 0) + 1
    assert counts["xxe"] >= 6 and counts["entity"] >= 6 and counts["compression"] >= 4
    assert counts["encoding"] >= 10 and counts["size"] >= 1 and counts["time"] >= 1
    assert counts["redirect"] >= 1 and counts["canary"] >= 1
    assert len(corpus.XSS_VECTORS) >= 30 and len(FORMS) == 30


def test_no_crash_and_the_control_feed_still_alerts(run: dict, cases: list[corpus.Case]) -> None:
    sources = run["sources"]
    polled = {c.name for c in cases} | {"control"} | {f"ssrf-{i:02d}" for i in range(len(FORMS))}
    assert polled <= set(sources), polled - set(sources)
    for name in polled:
        assert sources[name].last_result is not None, name
    assert sources["control"].last_result == "ok"
    alerts = [json.loads(line) for line in run["jsonl"].splitlines()]
    assert any(a["article"]["source"] == "control" for a in alerts)
    assert run["elapsed"] < 3 * (DEADLINE + 1) + 20, run["elapsed"]


def test_hostile_fetches_are_refused_or_contained(run: dict, cases: list[corpus.Case]) -> None:
    sources = run["sources"]
    expect = {
        "entity": "declares XML entities",
        # Under the load of 80 parallel fetches in one process a bomb may meet the deadline
        # before the size cap; either way it is cut off (the per-case probe checks the cap).
        "compression": ("body larger than", "Content-Encoding", "timed out"),
        "size": ("body larger than", "timed out"),
        "time": "timed out",
        "redirect": ("redirects", "non-HTTP"),
        "canary": "not a feed",
    }
    for case in cases:
        row = sources[case.name]
        wanted = expect.get(case.category)
        if case.name == "malformed-entity-space":
            wanted = None  # not a declaration to expat either: parsed, text capped below
        if wanted is None:
            continue
        wanted = (wanted,) if isinstance(wanted, str) else wanted
        assert row.last_result == "failed", (case.name, row.last_result)
        assert any(w in (row.last_error or "") for w in wanted), (case.name, row.last_error)
    for i, (host, _meaning) in enumerate(FORMS):
        row = sources[f"ssrf-{i:02d}"]
        assert row.last_result == "failed" and "refused" in (row.last_error or ""), (host, row)


def test_no_out_of_band_fetch_and_no_canary_anywhere(
    run: dict, servers: tuple[HostileServer, HostileServer]
) -> None:
    assert servers[1].total_hits() == 0, servers[1].hits
    for where in ("console", "jsonl", "logs"):
        assert CANARY_TEXT not in run[where], where
    assert CANARY_TEXT.encode() not in run["database"]


def test_rendered_alerts_are_plain_safe_text(run: dict) -> None:
    schema = json.loads((CONTRACT / "alert-v1.schema.json").read_text())
    lines = run["jsonl"].splitlines()
    assert len(lines) >= len(corpus.XSS_VECTORS) + len(corpus.HOSTILE_TITLES)
    double_encoded = 0
    for line in lines:
        assert "<" not in line and ">" not in line  # jsonl escapes them (\u003c): HTML-safe
        alert = json.loads(line)
        jsonschema.validate(alert, schema)
        article = alert["article"]
        assert article["url"] is None or re.match(r"\Ahttps?://[^\s]+\Z", article["url"])
        assert not UNSAFE_IN_LINE.search(article["title"]), repr(article["title"])
        assert not UNSAFE_IN_LINE.search(alert["snippet"]), repr(alert["snippet"])
        assert len(article["title"]) <= 1_000
        text = " ".join([article["title"], alert["snippet"]])
        if "double-encoded" in article["title"]:
            # The feed *wrote* "&lt;script&gt;": that is text, shown as text, never markup.
            double_encoded += 1
            assert "<script>alert(1)</script> as text" in alert["snippet"]
            continue
        assert not TAG.search(text), text
        assert not BAD_SCHEME.search(text), text
    assert double_encoded == 1
    console = run["console"]
    assert "\x1b" not in console and "\r" not in console
    assert not re.search(r"[\u202a-\u202e\u2066-\u2069\u2028\u2029]", console)
    for block in console.split("\n\n"):
        if not block.strip() or "double-encoded" in block:
            continue
        assert not TAG.search(block), block
        for url in re.findall(r"^   url: (.*)$", block, re.M):
            assert re.match(r"\Ahttps?://", url), url


def test_no_scheme_other_than_http_survives_in_links(run: dict) -> None:
    urls = [json.loads(line)["article"]["url"] for line in run["jsonl"].splitlines()]
    assert not [u for u in urls if u and BAD_SCHEME.search(u)]
    assert urls.count(None) >= len(corpus.BAD_LINKS)


def test_xss_markup_never_reaches_an_alert(run: dict) -> None:
    alerts = [json.loads(line) for line in run["jsonl"].splitlines()]
    xss = [a for a in alerts if a["article"]["source"] == "xss" and "xss " in a["article"]["title"]]
    assert len(xss) == len(corpus.XSS_VECTORS)
    for alert in xss:
        assert not re.search(
            r"(?i)on[a-z]+\s*=|<|javascript:alert|srcset|@import", alert["snippet"]
        )


@pytest.mark.parametrize("name", available(NOTIFIERS))
def test_every_installed_notifier_is_covered(name: str, run: dict) -> None:
    if name not in CAPTURED:
        pytest.skip(f"no capture harness for the {name!r} notifier in this suite yet")
    assert run["console" if name == "console" else "jsonl"]


# --- time and memory per fetch, each case in its own process ---------------------------------

PROBE_SCRIPT = Path(__file__).with_name("probe.py")
RSS_LIMIT = 64 * 1024 * 1024


def test_fetch_bounds_per_case(
    servers: tuple[HostileServer, HostileServer], cases: list[corpus.Case]
) -> None:
    """Each hostile fetch (+ parse + extract) ends within deadline + 1 s and grows peak RSS by
    at most 64 MiB (G1), measured inside a fresh interpreter after warm-up."""
    server = servers[0]
    network = [c for c in cases if c.category not in ("xss", "titles")]

    def measure(case: corpus.Case) -> dict:
        out = subprocess.run(
            [sys.executable, str(PROBE_SCRIPT), server.url(case.path), str(DEADLINE)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert out.returncode == 0, (case.name, out.stderr[-2000:])
        return {"case": case.name, **json.loads(out.stdout.splitlines()[-1])}

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(measure, network))
    slow = [r for r in results if r["seconds"] > DEADLINE + 1]
    fat = [r for r in results if r["rss_growth"] > RSS_LIMIT]
    assert not slow, slow
    assert not fat, fat
    assert not [r for r in results if r["crash"]], results
    worst = max(results, key=lambda r: r["rss_growth"])
    slowest = max(results, key=lambda r: r["seconds"])
    print(
        f"\nG1 probes: {len(results)} fetches; max RSS growth {worst['rss_growth'] >> 20} MiB "
        f"({worst['case']}); slowest {slowest['seconds']} s ({slowest['case']})"
    )
