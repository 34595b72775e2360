"""Shared fixtures: the seed files, a config folder in tmp_path, a fixed clock; the
loopback-only socket guard (tests/netguard.py) for every test and every subprocess."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import respx.mocks

if TYPE_CHECKING:
    from monitor.store import Store

from tests import netguard
from tests.respx_transport import FetcherAndHTTPCoreMocker

# `@respx.mock` also intercepts the feed fetcher's own transport (tests/respx_transport.py).
respx.mocks.DEFAULT_MOCKER = FetcherAndHTTPCoreMocker.name

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CONTRACT = ROOT / "docs" / "contract"
DEFAULT_WATCHLIST = ROOT / "config" / "watchlist.toml"
END_MARKERS = ("參考新聞來源", "編輯推薦")


class Clock:
    """A clock the test moves by hand; passed as `now=` to make_app."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))


@pytest.fixture
def seed_paths() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))


MONITOR_TOML = """\
database = "sqlite:///var/monitor.db"
watchlist = "watchlist.toml"

[[folders]]
id = "inbox"
path = "inbox"
end_markers = ["參考新聞來源", "編輯推薦"]

[[notifiers]]
name = "archive"
type = "jsonl"
path = "var/alerts.jsonl"
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A config folder with monitor.toml, the default watchlist and an empty inbox/."""
    (tmp_path / "inbox").mkdir()
    (tmp_path / "monitor.toml").write_text(MONITOR_TOML, encoding="utf-8")
    shutil.copy(DEFAULT_WATCHLIST, tmp_path / "watchlist.toml")
    return tmp_path


@pytest.fixture
def copy_seeds() -> Callable[[Path], list[Path]]:
    def copy(folder: Path) -> list[Path]:
        return [Path(shutil.copy(path, folder / path.name)) for path in sorted(SEEDS.glob("*"))]

    return copy


def postgres_url() -> str | None:
    return os.environ.get("MONITOR_TEST_POSTGRES_URL") or None


# --- T-1: no packet to a non-loopback address, from this process or any child ----------------

_NETGUARD_SITE = Path(__file__).resolve().parent / "netguard_site"


def pytest_configure(config: pytest.Config) -> None:
    netguard.install()
    log = Path(config.rootpath) / ".pytest_cache" / f"netguard-{os.getpid()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    os.environ[netguard.ENV_LOG] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(_NETGUARD_SITE), *filter(None, [os.environ.get("PYTHONPATH")])]
    )


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[None]:
    """Fails the test if it (or a subprocess it started) tried to reach a non-loopback host."""
    log = Path(os.environ[netguard.ENV_LOG])
    netguard.violations.clear()
    log.write_text("", encoding="utf-8")
    yield
    found = [*netguard.violations, *log.read_text(encoding="utf-8").splitlines()]
    netguard.violations.clear()
    assert not found, "\n".join(found)


@contextmanager
def postgres_schema(prefix: str = "monitor_test") -> Iterator[str]:
    """A fresh PostgreSQL schema on MONITOR_TEST_POSTGRES_URL (skips the test when unset);
    yields a URL whose connections use it, and drops it afterwards."""
    url = postgres_url()
    if not url:
        pytest.skip(
            "MONITOR_TEST_POSTGRES_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
        )
    import uuid

    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment that points a config at each database: SQLite as configured, or a
    fresh PostgreSQL schema (MONITOR_DATABASE_URL), so pipeline and delivery tests run on both.
    """
    if request.param == "sqlite":
        yield {}
        return
    with postgres_schema() as url:
        yield {"MONITOR_DATABASE_URL": url}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator["Store"]:  # noqa: UP037
    """A migrated store on a SQLite file and on a fresh PostgreSQL schema (skipped when
    MONITOR_TEST_POSTGRES_URL is unset)."""
    from monitor.store import Store

    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path}/db/monitor.db")
        opened.upgrade()
        yield opened
        opened.close()
        return
    with postgres_schema() as url:
        opened = Store.open(url)
        opened.upgrade()
        yield opened
        opened.close()
