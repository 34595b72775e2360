"""G11: secrets never appear in logs, exception messages or command output (RELIABILITY.md
SEC-1..3), with everything at DEBUG.

A feed on a loopback server sends three secret headers (`{ env }`, `{ file }`,
`{ credential }` references); the database URL carries a password through
MONITOR_DATABASE_URL. `check`, `status`, `feeds list`, `run --once` and `feeds test` run as
subprocesses at --log-level debug; a second round points MONITOR_DATABASE_URL at a closed
loopback PostgreSQL port so the connection errors are printed too. Every output, the jsonl
sink and the database file are searched for each secret, plain, base64 and URL-encoded.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.conftest import ROOT
from tests.hostile import corpus
from tests.hostile.server import HostileServer, Route

TOKEN = "tok_S3cr3t+/=?&-9f2c41"
FILE_SECRET = "file-Secret-7d1e5b0a"
CREDENTIAL = "cred-Secret-c0ffee42"
DB_PASSWORD = "db-P@ss:w/rd-5a5a"


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return sorted({
        secret, quote(secret, safe=""), quote_plus(secret),
        base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.b64encode(f"monitor:{secret}".encode()).decode(),
    })  # fmt: skip


def leaks(text: str) -> list[str]:
    return [
        f"{secret!r} as {form!r}"
        for secret in (TOKEN, FILE_SECRET, CREDENTIAL, DB_PASSWORD)
        for form in forms(secret)
        if form in text
    ]


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = HostileServer()
    server.routes["/feed.xml"] = Route(
        corpus.rss(corpus.item("probe secret feed", "probe: an authenticated feed"))
    )
    (tmp_path / "key").write_text(FILE_SECRET + "\n")
    (tmp_path / "key").chmod(0o600)
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "feed-cred").write_text(CREDENTIAL)
    (tmp_path / "watchlist.toml").write_text('[[topics]]\nid = "probe"\nany = ["probe"]\n')
    (tmp_path / "monitor.toml").write_text(
        'database = "sqlite:///var/monitor.db"\nlog_level = "debug"\n'
        '[[notifiers]]\nname = "console"\ntype = "console"\n'
        '[[notifiers]]\nname = "sink"\ntype = "jsonl"\npath = "var/alerts.jsonl"\n'
        f'[[feeds]]\nid = "private"\nurl = "{server.url("/feed.xml")}"\n'
        'allow_private_network = true\nfirst_poll = "alert"\n'
        'headers = { Authorization = { env = "TOKEN" }, '
        f'X-Api-Key = {{ file = "{tmp_path / "key"}" }}, '
        'X-Credential = { credential = "feed-cred" } }\n'
    )
    env = {**os.environ, "TOKEN": TOKEN, "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
    env.pop("MONITOR_DATABASE_URL", None)
    yield tmp_path, server, env
    server.close()


def monitor(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(folder / "monitor.toml"),
         "--log-level", "debug", *args],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
    )  # fmt: skip


def test_no_secret_in_any_output_at_debug(setup) -> None:  # type: ignore[no-untyped-def]
    folder, server, env = setup
    outputs = []
    for args in (["check"], ["run", "--once"], ["status"], ["feeds", "list"], ["db", "status"]):
        done = monitor(folder, env, *args)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        outputs.append(done.stdout + done.stderr)
    # The secrets were really used: the server saw them.
    sent = server.headers[0]
    assert (sent["Authorization"], sent["X-Api-Key"], sent["X-Credential"]) == (
        TOKEN, FILE_SECRET, CREDENTIAL,
    )  # fmt: skip
    assert "DEBUG" in "".join(outputs)
    stored = (folder / "var" / "alerts.jsonl").read_text()
    database = b"".join(p.read_bytes() for p in (folder / "var").glob("monitor.db*"))
    assert not leaks("\n".join([*outputs, stored, database.decode("latin-1")]))


def test_database_password_never_shown_even_when_the_database_fails(setup) -> None:  # type: ignore[no-untyped-def]
    folder, _server, env = setup
    env = {**env, "MONITOR_DATABASE_URL":
           f"postgresql+psycopg://monitor:{quote(DB_PASSWORD, safe='')}@127.0.0.1:1/monitor"}  # fmt: skip
    outputs = []
    for args in (["check"], ["status"], ["run", "--once"], ["db", "status"], ["feeds", "list"]):
        done = monitor(folder, env, *args)
        outputs.append(done.stdout + done.stderr)
    text = "\n".join(outputs)
    assert "127.0.0.1" in text  # the failures were reported
    assert not leaks(text), leaks(text)
