"""The CLI's one database policy (monitor/cli/common.py): only `run` migrates (and `db
upgrade`, whose job it is); every other command refuses a schema that is not the newest,
names `monitor db upgrade`, exits 1 and leaves the database exactly as it was."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import Store

VERSIONS = Path(__file__).resolve().parent.parent / "monitor" / "store" / "migrations" / "versions"
NEWEST = max(p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
PREVIOUS = f"{int(NEWEST) - 1:04d}"  # one migration behind the newest

READ_ONLY = [
    ("status",),
    ("topics",),
    ("feeds", "list"),
    ("feeds", "enable", "inbox"),
    ("notifiers", "list"),
    ("notifiers", "enable", "archive"),
    ("alerts", "list"),
    ("alerts", "retry", "--all-dead"),
    ("explain", "--article", "v1:6fe1"),
    ("replay", "--since", "all"),
    ("db", "prune"),
    ("db", "vacuum"),
]


def run(workdir: Path, *args: str) -> int:
    return main(["--config", str(workdir / "monitor.toml"), *args])


def database(workdir: Path) -> Path:
    return workdir / "var" / "monitor.db"


def revision(path: Path) -> str | None:
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "alembic_version" not in tables:
            return None
        return str(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def fingerprint(path: Path) -> str:
    """The bytes of the database file and of any WAL beside it."""
    digest = hashlib.sha256()
    for part in (path, path.with_name(path.name + "-wal")):
        if part.exists():
            digest.update(part.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def behind(workdir: Path) -> Path:
    """A workdir whose database is one migration behind."""
    database(workdir).parent.mkdir()
    store = Store.open(f"sqlite:///{database(workdir)}")
    store.upgrade(PREVIOUS)
    store.close()
    assert revision(database(workdir)) == PREVIOUS
    return workdir


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_other_commands_refuse_a_schema_one_migration_behind(
    behind: Path, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(database(behind))
    assert run(behind, *command) == 1
    err = capsys.readouterr().err
    assert f"database schema is {PREVIOUS}, this monitor needs {NEWEST}" in err
    assert "run `monitor db upgrade`" in err
    assert revision(database(behind)) == PREVIOUS
    assert fingerprint(database(behind)) == before


def test_a_read_only_command_creates_no_tables_in_an_empty_database_file(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database(workdir).parent.mkdir()
    database(workdir).touch()
    assert run(workdir, "alerts", "list") == 1
    assert "database schema is empty" in capsys.readouterr().err
    # Not byte for byte: the store's connect hook sets journal_mode=WAL, which writes the
    # SQLite header into an empty file. No table, no revision.
    with sqlite3.connect(database(workdir)) as db:
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_run_once_migrates(behind: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(behind, "run", "--once") == 0
    assert f"migrated database from={PREVIOUS} to={NEWEST}" in capsys.readouterr().err
    assert revision(database(behind)) == NEWEST
    assert run(behind, "status") == 0


def test_db_status_reports_and_db_upgrade_migrates(
    behind: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(behind, "db", "status") == 0
    assert f"revision {PREVIOUS}; newest {NEWEST}: upgrade pending" in capsys.readouterr().out
    assert revision(database(behind)) == PREVIOUS
    assert run(behind, "db", "upgrade") == 0
    assert f"database upgraded from {PREVIOUS} to {NEWEST}" in capsys.readouterr().out
    assert run(behind, "alerts", "list") == 0
