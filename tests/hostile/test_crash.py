"""G3: `kill -9` at random instants, restart, repeat; then 0 lost and 0 duplicate alerts
(RELIABILITY.md DL-1, DB-2, §3 G3).

`monitor run` ingests article files dropped into a folder and delivers to a jsonl sink, whose
lines carry the alert id. It is SIGKILLed 50 times (fixed seed) at a random instant after its
start (during start-up and migrations, scans, ingest transactions, delivery), with new files
dropped before every restart. After each kill `PRAGMA integrity_check` must be ok. At the end
one `run --once --retry-now` drains what is pending, and:
- every expected (article, topic) alert id, computed independently from the files, is at the
  sink (0 lost), the database holds exactly those alerts (0 duplicate alerts);
- repeated lines at the sink (duplicate transmissions: a kill between the append and the
  "sent" commit) carry the same id, and there are at most as many as kills.
The same harness should point at the webhook receiver (webhook-id) once that notifier lands.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from monitor.extract import extract
from monitor.match import Matcher
from monitor.models import RawItem
from monitor.pipeline import alert_id
from tests.conftest import ROOT

KILLS = int(os.environ.get("MONITOR_TEST_KILLS", "50"))
SEED = 20261123
FILES_PER_ROUND = 3
WATCHLIST = (
    '[[topics]]\nid = "probe"\nany = ["probe"]\n\n[[topics]]\nid = "alpha"\nany = ["alpha"]\n'
)


def article(i: int) -> str:
    return (
        f"# Article {i} probe\n\nReport number {i}: the probe found alpha particles in sample "
        f"{i * 7919 % 10007}. Nothing else of note on day {i}.\n"
    )


def expected_alerts(folder: Path) -> set[str]:
    from monitor.config import load_watchlist

    matcher = Matcher(load_watchlist(folder / "watchlist.toml"))
    ids = set()
    for path in sorted((folder / "inbox").glob("*.md")):
        item = RawItem("inbox", path.name, path.read_bytes(), "text/markdown", datetime.now(UTC))
        found = extract(item)
        for match in matcher.match(found.title, found.text):
            ids.add(alert_id(found.content_hash, match.topic_id))
    return ids


def integrity(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def test_kill_9_loses_and_duplicates_no_alert(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "watchlist.toml").write_text(WATCHLIST)
    toml = tmp_path / "monitor.toml"
    toml.write_text(
        'database = "sqlite:///var/monitor.db"\n'
        '[[folders]]\nid = "inbox"\npath = "inbox"\ninterval = "1s"\n'
        '[[notifiers]]\nname = "sink"\ntype = "jsonl"\npath = "var/alerts.jsonl"\n'
    )
    database = tmp_path / "var" / "monitor.db"
    sink = tmp_path / "var" / "alerts.jsonl"
    command = [sys.executable, "-m", "monitor", "--config", str(toml)]
    counter = 0
    kills = 0
    progressed = 0  # rounds in which the killed process had delivered something
    seen_lines = 0
    started = time.monotonic()
    for _round in range(KILLS):
        for _ in range(FILES_PER_ROUND):
            name = tmp_path / "inbox" / f"{counter:04d}.md"
            name.with_suffix(".tmp").write_text(article(counter))
            name.with_suffix(".tmp").rename(name)  # appears whole, as an editor would save it
            counter += 1
        process = subprocess.Popen(
            [*command, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
        )
        time.sleep(rng.uniform(0.1, 1.6))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        kills += 1
        lines_now = len(sink.read_bytes().splitlines()) if sink.exists() else 0
        progressed += lines_now > seen_lines
        seen_lines = lines_now
        if database.exists():
            assert integrity(database) == "ok", f"after kill {kills}"
        assert time.monotonic() - started < 240, "crash loop exceeded its wall-clock budget"

    drain = subprocess.run(
        [*command, "run", "--once", "--retry-now"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert drain.returncode == 0, drain.stderr[-3000:]
    assert integrity(database) == "ok"

    expected = expected_alerts(tmp_path)
    assert len(expected) == 2 * counter
    lines = [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines()]
    sent = Counter(line["id"] for line in lines)
    with sqlite3.connect(database) as connection:
        stored = [row[0] for row in connection.execute("SELECT id FROM alerts")]
        pairs = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT article_id || '/' || topic_id) FROM alerts"
        ).fetchone()
        undelivered = connection.execute(
            "SELECT COUNT(*) FROM deliveries WHERE status != 'sent'"
        ).fetchone()[0]
    lost = expected - set(sent)
    duplicate_transmissions = sum(n - 1 for n in sent.values())
    print(
        f"\nG3: kills={kills} (after some delivery: {progressed}) files={counter} expected_alerts={len(expected)} "
        f"lost={len(lost)} duplicate_alerts={len(stored) - len(set(stored))} "
        f"duplicate_transmissions={duplicate_transmissions} seconds={time.monotonic() - started:.0f}"
    )
    assert not lost, sorted(lost)[:5]
    assert set(stored) == expected and len(stored) == len(set(stored))
    assert pairs[0] == pairs[1]
    assert undelivered == 0
    assert set(sent) == expected  # nothing at the sink that is not an expected alert
    assert duplicate_transmissions <= kills


def test_a_kill_in_the_middle_of_a_batch_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """Group commit: several folders' polls written in one transaction; the process is killed
    between two writes of a batch (a fail point). Nothing of that batch is committed, its
    sources keep their old state, and the next run stores and alerts every file once."""
    folders = ["a", "b", "c", "d", "e", "f"]
    (tmp_path / "watchlist.toml").write_text(WATCHLIST)
    config = 'database = "sqlite:///var/monitor.db"\n'
    counter = 0
    for folder in folders:
        (tmp_path / folder).mkdir()
        config += f'[[folders]]\nid = "{folder}"\npath = "{folder}"\n'
        for _ in range(2):
            (tmp_path / folder / f"{counter:04d}.md").write_text(article(counter))
            counter += 1
    config += '[[notifiers]]\nname = "sink"\ntype = "jsonl"\npath = "var/alerts.jsonl"\n'
    toml = tmp_path / "monitor.toml"
    toml.write_text(config)
    command = [sys.executable, "-m", "monitor", "--config", str(toml), "run", "--once"]
    killed = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "MONITOR_FAILPOINT_KILL_IN_BATCH": "1"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, "no batch held two writes: the test proves nothing"
    database = tmp_path / "var" / "monitor.db"
    assert integrity(database) == "ok"
    sink = tmp_path / "var" / "alerts.jsonl"
    assert not sink.exists() or not sink.read_text()  # killed before any delivery

    drain = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert drain.returncode == 0, drain.stderr[-3000:]
    expected = set()
    matcher = Matcher(load_watchlist_for(tmp_path))
    for folder in folders:
        for path in sorted((tmp_path / folder).glob("*.md")):
            item = RawItem(folder, path.name, path.read_bytes(), "text/markdown", datetime.now(UTC))
            found = extract(item)
            expected |= {
                alert_id(found.content_hash, m.topic_id)
                for m in matcher.match(found.title, found.text)
            }
    lines = [json.loads(line) for line in sink.read_text(encoding="utf-8").splitlines()]
    assert len(expected) == 2 * counter
    assert sorted(line["id"] for line in lines) == sorted(expected)  # each once, none lost
    with sqlite3.connect(database) as connection:
        stored = [row[0] for row in connection.execute("SELECT id FROM alerts")]
    assert sorted(stored) == sorted(expected)


def load_watchlist_for(folder: Path):  # type: ignore[no-untyped-def]
    from monitor.config import load_watchlist

    return load_watchlist(folder / "watchlist.toml")
