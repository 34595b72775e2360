"""One contract for every installed source type: the same table of options and targets.

Through the real config loader (`[[sources]] type = …`): valid options load, a bad or unknown
option is a ConfigError naming the table and key. Through `poll`: a failing target is a FAILED
(or GONE) outcome with a reason, never an exception; a working target yields items of that
source, and polling again with the returned state yields nothing new; `target()` is a string
without secrets; `watch()` is None or an async iterator. An example third-party source,
installed as a real dist-info directory on sys.path, passes the same table and alerts end to end.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.app import make_app
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.models import Outcome, Poll, RawItem
from monitor.plugins import SOURCES, Source, available, forget_entry_points
from tests.conftest import Clock
from tests.hostile.server import HostileServer, Route

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>t</title><link>http://127.0.0.1/</link>
<item><title>NATO summit</title><link>http://127.0.0.1/a</link><guid>a</guid>
<description>NATO leaders met in Vilnius to discuss the alliance.</description></item>
</channel></rss>"""


@pytest.fixture(scope="module")
def feed_server() -> Iterator[HostileServer]:
    server = HostileServer()
    server.routes["/feed.xml"] = Route(
        RSS, headers={"Content-Type": "application/rss+xml", "ETag": '"v1"'}
    )
    yield server
    server.close()


def prepare_folder(folder: Path) -> None:
    (folder / "inbox").mkdir(exist_ok=True)
    (folder / "inbox" / "a.txt").write_text(
        "NATO summit\n\nNATO leaders met in Vilnius to discuss the alliance.\n", encoding="utf-8"
    )


def prepare_notes(folder: Path) -> None:
    (folder / "notes.txt").write_text(
        "NATO summit: leaders met in Vilnius to discuss the alliance.\n---\n"
        "普丁訪問平壤，與金正恩會談。\n",
        encoding="utf-8",
    )


# type → valid options, (bad option, bad value), options whose target fails, setup of the
# working target (files, servers), and the option that carries a secret if the type has one.
CASES: dict[str, dict[str, Any]] = {
    "folder": {
        "ok": lambda server: 'path = "inbox"',
        "bad": ("max_file_size", "0"),
        "failing": 'path = "missing"',
        "prepare": prepare_folder,
    },
    "feed": {
        "ok": lambda server: f'url = "{server.url("/feed.xml")}"\nallow_private_network = true',
        "bad": ("url", '"ftp://example.org/feed"'),
        "failing": 'url = "http://127.0.0.1:9/feed.xml"\nallow_private_network = true',
        "prepare": None,
    },
}
NOTES_CASE = {
    "ok": lambda server: 'file = "notes.txt"',
    "bad": ("separator", '""'),
    "failing": 'file = "no-such-notes.txt"',
    "prepare": prepare_notes,
}


def write_config(folder: Path, kind: str, options: str) -> Path:
    (folder / "watchlist.toml").write_text('[[topics]]\nid = "nato"\nany = ["NATO"]\n')
    path = folder / "monitor.toml"
    path.write_text(
        f'database = "sqlite:///m.db"\n[[sources]]\nid = "s"\ntype = "{kind}"\n{options}\n'
        '[[notifiers]]\nname = "out"\ntype = "jsonl"\npath = "alerts.jsonl"\n',
        encoding="utf-8",
    )
    return path


def poll(source: Source, state: Any) -> Poll:
    result = source.poll(state, NOW)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(result: Any) -> Any:
    return await result


def case(kind: str) -> dict[str, Any]:
    return NOTES_CASE if kind == "notes" else CASES[kind]


def test_every_installed_source_is_in_the_table() -> None:
    assert set(available(SOURCES)) == set(CASES)


@pytest.fixture(params=[*sorted(CASES), "notes"])
def kind(request: pytest.FixtureRequest, notes_plugin: Path) -> str:
    return str(request.param)


def test_valid_options_load(kind: str, tmp_path: Path, feed_server: HostileServer) -> None:
    settings = load_config(write_config(tmp_path, kind, case(kind)["ok"](feed_server)), env={})
    (source,) = settings.sources
    assert isinstance(source.source, Source) and source.type == kind and source.id == "s"


def test_bad_option_is_a_config_error_naming_the_key(
    kind: str, tmp_path: Path, feed_server: HostileServer
) -> None:
    option, value = case(kind)["bad"]
    lines = [
        line
        for line in case(kind)["ok"](feed_server).splitlines()
        if not line.startswith(f"{option} =")
    ]
    config = write_config(tmp_path, kind, "\n".join([*lines, f"{option} = {value}"]))
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    assert [p.key for p in caught.value.problems] == [f"sources[0].{option}"]


def test_unknown_option_is_a_config_error(
    kind: str, tmp_path: Path, feed_server: HostileServer
) -> None:
    config = write_config(tmp_path, kind, case(kind)["ok"](feed_server) + '\nno_such = "x"')
    with pytest.raises(ConfigError, match="unknown option"):
        load_config(config, env={})


def test_failing_target_is_an_outcome_not_an_exception(kind: str, tmp_path: Path) -> None:
    settings = load_config(write_config(tmp_path, kind, case(kind)["failing"]), env={})
    result = poll(settings.sources[0].source, None)
    assert result.outcome in (Outcome.FAILED, Outcome.GONE)
    assert result.reason and result.items == ()


def test_working_target_yields_items_once(
    kind: str, tmp_path: Path, feed_server: HostileServer
) -> None:
    if case(kind)["prepare"]:
        case(kind)["prepare"](tmp_path)
    settings = load_config(write_config(tmp_path, kind, case(kind)["ok"](feed_server)), env={})
    source = settings.sources[0].source
    first = poll(source, None)
    assert first.outcome is Outcome.OK and first.items
    assert all(isinstance(i, RawItem) and i.source == "s" for i in first.items)
    again = poll(source, first.state)
    assert again.outcome in (Outcome.OK, Outcome.NOT_MODIFIED) and again.items == ()


def test_target_and_watch(kind: str, tmp_path: Path, feed_server: HostileServer) -> None:
    if case(kind)["prepare"]:
        case(kind)["prepare"](tmp_path)
    settings = load_config(write_config(tmp_path, kind, case(kind)["ok"](feed_server)), env={})
    source = settings.sources[0].source
    assert isinstance(source.target(), str)

    async def check_watch() -> None:
        events = source.watch()
        if events is not None:
            assert hasattr(events, "__anext__")
            await events.aclose()  # type: ignore[attr-defined]

    asyncio.run(check_watch())


# --- an example third-party source, installed as a real distribution ------------------------

PLUGIN = '''
"""An example third-party source: one text file of notes separated by a line of dashes;
every note is an item, and a note is new once."""

import hashlib
from pathlib import Path

from monitor.models import Outcome, Poll, RawItem
from monitor.plugins import Source


class NotesSource(Source):
    def __init__(self, id, *, file: Path, separator: str = "---") -> None:
        super().__init__(id)
        if not separator:
            raise ValueError("separator: must not be empty")
        self.file, self.separator = Path(file), separator

    def target(self):
        return str(self.file)

    def poll(self, state, now):
        try:
            text = self.file.read_text(encoding="utf-8")
        except OSError as e:
            return Poll((), state, Outcome.FAILED, f"cannot read {self.file}: {e.strerror}")
        seen = set((state or {}).get("seen", []))
        items = []
        for note in text.split("\\n" + self.separator + "\\n"):
            digest = hashlib.sha256(note.encode()).hexdigest()
            if note.strip() and digest not in seen:
                seen.add(digest)
                items.append(RawItem(self.id, f"note-{digest[:8]}", note.encode(),
                                     "text/plain", now))
        return Poll(tuple(items), {"seen": sorted(seen)})
'''


@pytest.fixture
def notes_plugin(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    site = tmp_path_factory.mktemp("site")
    (site / "monitor_notes").mkdir(parents=True)
    (site / "monitor_notes" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "monitor_notes-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: monitor-notes\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[monitor.sources]\nnotes = monitor_notes:NotesSource\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    forget_entry_points()
    yield site
    sys.modules.pop("monitor_notes", None)
    monkeypatch.undo()
    importlib.invalidate_caches()
    forget_entry_points()


def test_third_party_source_alerts_end_to_end(
    notes_plugin: Path, tmp_path: Path, clock: Clock
) -> None:
    assert "notes" in available(SOURCES)
    prepare_notes(tmp_path)
    config = write_config(tmp_path, "notes", 'file = "notes.txt"')
    settings = load_config(config, env={})
    assert type(settings.sources[0].source).__module__ == "monitor_notes"
    app = make_app(settings, now=clock)
    app.start()
    try:
        first = app.run_once()
        second = app.run_once()
    finally:
        app.close()
    assert first.ok and first.ingest.new == 2 and first.ingest.alerts == 1
    assert first.delivery.sent == 1 and second.ingest.new == 0 and second.delivery.sent == 0
    lines = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and '"nato"' in lines[0]
