"""One contract for every installed notifier: the same table of bad options and failing targets.

A bad option is a ConfigError naming the table and key (through the real config loader); a
failing target raises NotifyError, never another exception type and never a returned flag.
An example third-party plugin, installed as a real dist-info directory on sys.path, goes
through the same loader and delivery as the built-ins.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.app import make_app
from monitor.config import load_config
from monitor.errors import ConfigError, NotifyError
from monitor.models import Delivery
from monitor.plugins import NOTIFIERS, Notifier, available, forget_entry_points
from tests.conftest import Clock
from tests.fakes import AsyncNotifier
from tests.notifiers.conftest import NOW, free_port, make_delivery
from tests.notifiers.test_webhook import SECRET


class BrokenStream:
    def write(self, text: str) -> int:
        raise BrokenPipeError("pipe closed")

    def flush(self) -> None:
        raise BrokenPipeError("pipe closed")


# type → (valid TOML options, (bad option, bad TOML value), options whose target fails, setup)
CASES: dict[str, dict[str, Any]] = {
    "console": {
        "ok": 'stream = "stdout"',
        "bad": ("stream", '"printer"'),
        "failing": 'stream = "stdout"',
        "setup": lambda mp: mp.setattr(sys, "stdout", BrokenStream()),
    },
    "jsonl": {
        "ok": 'path = "out.jsonl"',
        "bad": ("fsync", '"yes"'),
        "failing": 'path = "a-file/out.jsonl"',  # a-file is a file, not a folder
        "setup": None,
    },
    "email": {
        "ok": 'host = "127.0.0.1"\nsecurity = "none"\nsender = "m@x.org"\nrecipients = ["a@x.org"]',
        "bad": ("security", '"ssl"'),
        "failing": f'host = "127.0.0.1"\nport = {free_port()}\nsecurity = "none"\n'
        'sender = "m@x.org"\nrecipients = ["a@x.org"]',
        "setup": None,
    },
    "webhook": {
        "ok": 'url = "https://hooks.example.org/"\nsecret = { env = "SECRET" }',
        "bad": ("url", '"ftp://x.example.org/"'),
        "failing": f'url = "http://127.0.0.1:{free_port()}/"\nsecret = {{ env = "SECRET" }}',
        "setup": None,
    },
    "apprise": {
        "ok": 'urls = ["json://127.0.0.1/x"]',
        "bad": ("urls", '["no-such-scheme://x"]'),
        "failing": f'urls = ["json://127.0.0.1:{free_port()}/x"]',
        "setup": None,
    },
}
ENV = {"SECRET": SECRET}
# Not installed, so not loaded from config: kinds of `send` the ABC allows that no built-in
# uses (today, `async def`), held to the same send contract. name → (ok, failing) factory.
FAKES: dict[str, tuple[Callable[[], Notifier], Callable[[], Notifier]]] = {
    "fake-async": (lambda: AsyncNotifier("n"), lambda: AsyncNotifier("n", failures=1)),
}


def deliver(notifier: Notifier, deliveries: Sequence[Delivery], now: datetime) -> None:
    """Send as `monitor.delivery` does: an async `send` is awaited to completion, so what it
    raises surfaces here (a coroutine never awaited would neither send nor fail)."""
    result = notifier.send(deliveries, now)
    if inspect.isawaitable(result):

        async def wait() -> None:
            await result

        asyncio.run(wait())


def write_config(folder: Path, kind: str, options: str) -> Path:
    (folder / "watchlist.toml").write_text('[[topics]]\nid = "t"\nany = ["x"]\n')
    (folder / "a-file").write_text("")
    path = folder / "monitor.toml"
    path.write_text(f'[[notifiers]]\nname = "n"\ntype = "{kind}"\n{options}\n', encoding="utf-8")
    return path


def test_every_installed_notifier_is_in_the_table() -> None:
    assert set(CASES) <= set(available(NOTIFIERS))
    assert set(available(NOTIFIERS)) - set(CASES) == set()


@pytest.mark.parametrize("kind", sorted(CASES))
def test_valid_options_load(kind: str, tmp_path: Path) -> None:
    settings = load_config(write_config(tmp_path, kind, CASES[kind]["ok"]), env=ENV)
    (notifier,) = settings.notifiers
    assert isinstance(notifier.notifier, Notifier) and notifier.type == kind


@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_option_is_a_config_error_naming_the_key(kind: str, tmp_path: Path) -> None:
    option, value = CASES[kind]["bad"]
    lines = [ln for ln in CASES[kind]["ok"].splitlines() if not ln.startswith(f"{option} =")]
    config = write_config(tmp_path, kind, "\n".join([*lines, f"{option} = {value}"]))
    with pytest.raises(ConfigError) as caught:
        load_config(config, env=ENV)
    assert [p.key for p in caught.value.problems] == [f"notifiers[0].{option}"]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_unknown_option_is_a_config_error(kind: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, kind, CASES[kind]["ok"] + '\nno_such_option = "x"')
    with pytest.raises(ConfigError, match="unknown option"):
        load_config(config, env=ENV)


@pytest.mark.parametrize("kind", [*sorted(CASES), *sorted(FAKES)])
def test_failing_target_raises_notify_error(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind in FAKES:
        notifier = FAKES[kind][1]()
    else:
        settings = load_config(write_config(tmp_path, kind, CASES[kind]["failing"]), env=ENV)
        notifier = settings.notifiers[0].notifier
        if CASES[kind]["setup"]:
            CASES[kind]["setup"](monkeypatch)
    with pytest.raises(NotifyError) as caught:
        deliver(notifier, [make_delivery("n")], NOW)
    assert caught.value.notifier == "n" and caught.value.reason


@pytest.mark.parametrize("kind", sorted(FAKES))
def test_fake_notifier_sends_when_awaited(kind: str) -> None:
    """The other half for notifiers whose target cannot fail: `send` returns and the
    deliveries arrived (for an async `send`, only if it really ran)."""
    notifier = FAKES[kind][0]()
    delivery = make_delivery("n")
    deliver(notifier, [delivery], NOW)
    assert getattr(notifier, "sent", None) == [(delivery, NOW)]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_target_is_a_string_without_secrets(kind: str, tmp_path: Path) -> None:
    settings = load_config(write_config(tmp_path, kind, CASES[kind]["ok"]), env=ENV)
    target = settings.notifiers[0].notifier.target()
    assert isinstance(target, str) and SECRET not in target


# --- an example third-party plugin, installed as a real distribution -------------------------

PLUGIN = '''
"""An example third-party notifier: writes one line per delivery to a file."""

from pathlib import Path

from monitor.errors import NotifyError
from monitor.plugins import Notifier


class PagerNotifier(Notifier):
    def __init__(self, name, *, number: str, log: Path, retries: int = 3) -> None:
        super().__init__(name)
        if not number.startswith("+"):
            raise ValueError("number: international format, starting with +")
        self.number, self.log = number, log

    def target(self):
        return self.number

    def send(self, deliveries, now):
        try:
            with open(self.log, "a", encoding="utf-8") as f:
                for d in deliveries:
                    f.write(f"{self.number} {d.id} {d.alert.article.title}\\n")
        except OSError as e:
            raise NotifyError(self.name, f"cannot page: {e}") from e
'''


@pytest.fixture
def pager_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    (site / "monitor_pager").mkdir(parents=True)
    (site / "monitor_pager" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "monitor_pager-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: monitor-pager\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[monitor.notifiers]\npager = monitor_pager:PagerNotifier\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    forget_entry_points()  # the loader scans entry points once per process, as at a start
    yield site  # type: ignore[misc]
    sys.modules.pop("monitor_pager", None)
    monkeypatch.undo()
    forget_entry_points()


def test_third_party_plugin_loads_and_delivers(
    pager_plugin: Path, workdir: Path, clock: Clock, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    assert "pager" in available(NOTIFIERS)
    copy_seeds(workdir / "inbox")
    config = workdir / "monitor.toml"
    text = config.read_text(encoding="utf-8").replace(
        'type = "jsonl"\npath = "var/alerts.jsonl"',
        'type = "pager"\nnumber = "+4930123"\nlog = "pages.txt"',
    )
    config.write_text(text, encoding="utf-8")
    settings = load_config(config, env={})
    assert type(settings.notifiers[0].notifier).__module__ == "monitor_pager"
    app = make_app(settings, now=clock)
    app.start()
    try:
        report = app.run_once()
    finally:
        app.close()
    assert report.ok and report.delivery.sent == report.ingest.alerts > 0
    lines = (workdir / "pages.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == report.ingest.alerts and all(
        ln.startswith("+4930123 msg_") for ln in lines
    )

    config.write_text(text.replace('"+4930123"', '"030123"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    assert [p.key for p in caught.value.problems] == ["notifiers[0].number"]


@pytest.mark.parametrize("kind", ["email", "webhook"])
def test_poison_alert_is_a_permanent_notify_error(kind: str, tmp_path: Path) -> None:
    settings = load_config(write_config(tmp_path, kind, CASES[kind]["failing"]), env=ENV)
    with pytest.raises(NotifyError) as caught:
        deliver(
            settings.notifiers[0].notifier, [make_delivery("n", title="bad \udcff surrogate")], NOW
        )
    assert caught.value.permanent and "cannot render" in caught.value.reason
