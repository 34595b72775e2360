"""The web page in a real browser: Debian's headless Chromium driven by Playwright, against a
real daemon process (`monitor run`) on a loopback port.

Outside CI these tests skip, with the reason, when the browser or Playwright is missing; in
CI (CI=true) they fail instead (`.ci/run` installs chromium). Screenshots go to the test's
temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SEEDS

CHROMIUM = os.environ.get("MONITOR_TEST_CHROMIUM", "/usr/bin/chromium")
TOKEN = "e2e-" + "k" * 40
# No phoning home from the browser (the tests reach loopback only).
BROWSER_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -c constraints.txt -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
            )
        except Exception as e:  # the browser cannot start: its message says why
            _unavailable(f"{CHROMIUM} does not start: {e}")
        yield launched
        launched.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    def __init__(self, workdir: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / "daemon.log"
        env = {**os.environ, "WEB_TOKEN": TOKEN}
        self.stderr = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(workdir / "monitor.toml"), "run"],
            env=env, stdout=subprocess.DEVNULL, stderr=self.stderr,
        )  # fmt: skip

    def wait_healthy(self) -> None:
        import httpx

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the daemon never became healthy:\n" + self.log.read_text())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(30)
        self.stderr.close()
        assert status == 0, self.log.read_text()


@pytest.fixture
def daemon(workdir: Path) -> Iterator[Daemon]:
    yield from _daemon(workdir)


def _daemon(workdir: Path) -> Iterator[Daemon]:
    port = free_port()
    toml = workdir / "monitor.toml"
    toml.write_text(
        toml.read_text()
        + f'\n[http]\nlisten = "127.0.0.1:{port}"\ntoken = {{ env = "WEB_TOKEN" }}\n'
        "allow_edit = true\n"
    )
    running = Daemon(workdir, port)
    running.wait_healthy()
    yield running
    running.stop()


def sign_in(page: Any, daemon: Daemon) -> None:
    page.goto(f"{daemon.url}/")
    assert "/signin" in page.url
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{daemon.url}/")


def test_dashboard_shows_a_fresh_alert_and_its_explanation(
    browser: Any, daemon: Daemon, workdir: Path, tmp_path: Path
) -> None:
    page = browser.new_page()
    sign_in(page, daemon)
    assert page.locator("tr.alert").count() == 0
    seed = next(p for p in sorted(SEEDS.glob("*.txt")) if "普丁" in p.read_text(encoding="utf-8"))
    shutil.copy(seed, workdir / "inbox" / seed.name)
    deadline = time.monotonic() + 30
    while page.locator("tr.alert").count() == 0:
        assert time.monotonic() < deadline, "no alert appeared on the dashboard"
        time.sleep(0.5)
        page.reload()
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    page.locator("tr.alert a.explain").first.click()
    page.wait_for_url(re.compile(r"/alerts/alert_[0-9a-f]+$"))
    assert page.locator("mark").count() > 0
    assert "fires" in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "explanation.png"), full_page=True)


def test_edit_preview_fix_save_and_a_stale_editor(
    browser: Any, daemon: Daemon, workdir: Path, tmp_path: Path
) -> None:
    first = browser.new_context().new_page()
    second = browser.new_context().new_page()
    for page in (first, second):
        sign_in(page, daemon)
        page.goto(f"{daemon.url}/watchlist")
    text = first.input_value("textarea[name=text]")
    broken = text + '\n[[topics]]\nid = "drones"\ntitle = Drones\nany = ["無人機"]\n'
    first.fill("textarea[name=text]", broken)
    first.click("button[value=preview]")
    issue = first.locator("li.issue").first.inner_text()
    assert re.search(r"line \d+, column \d+", issue), issue
    first.screenshot(path=str(tmp_path / "error.png"), full_page=True)
    fixed = text + '\n[[topics]]\nid = "drones"\ntitle = "Drones"\nany = ["無人機"]\n'
    first.fill("textarea[name=text]", fixed)
    first.click("button[value=preview]")
    first.wait_for_selector("#preview")
    first.click("button[value=save]")
    first.wait_for_selector("#saved")
    assert first.inner_text("#reload-result") == "ok"
    first.screenshot(path=str(tmp_path / "saved.png"), full_page=True)
    assert (workdir / "watchlist.toml").read_text(encoding="utf-8") == fixed
    # The second editor loaded the file before that save: its save is refused.
    second.fill("textarea[name=text]", text + "\n# an edit of the old text\n")
    second.click("button[value=save]")
    assert "changed on disk" in second.inner_text("#message")
    assert "an edit of the old text" in second.inner_text("#diff")
    second.screenshot(path=str(tmp_path / "stale.png"), full_page=True)
    assert (workdir / "watchlist.toml").read_text(encoding="utf-8") == fixed


def test_the_hostile_corpus_runs_nothing_in_the_browser(
    browser: Any, workdir: Path, tmp_path: Path
) -> None:
    """G1's XSS vectors, bad links and hostile titles, ingested as feeds are and stored
    before the daemon starts: the browser shows them and runs none of them (no dialog, no
    script element, no request anywhere but the daemon)."""
    from datetime import UTC, datetime

    from monitor.config import load_config
    from monitor.store import Store
    from tests.test_web import store_hostile_corpus

    store = Store.open(load_config(workdir / "monitor.toml", env={}).database)
    store.upgrade()
    alerts = store_hostile_corpus(store, datetime.now(UTC))
    store.close()
    running = _daemon(workdir)
    daemon = next(running)
    try:
        page = browser.new_page()
        dialogs: list[str] = []
        requests: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        sign_in(page, daemon)
        page.screenshot(path=str(tmp_path / "hostile-dashboard.png"), full_page=True)
        paths = ["/", "/topics/putin", *(f"/alerts/{a.id}" for a in alerts)]
        for path in paths:
            page.goto(daemon.url + path)
            assert page.locator("script, iframe, img, object, embed").count() == 0, path
            assert page.locator("[onerror], [onload], [onclick]").count() == 0, path
        assert dialogs == []
        foreign = [u for u in requests if not u.startswith(daemon.url)]
        assert foreign == []
    finally:
        next(running, None)
