"""Scale-out benchmark (issue 7): K `monitor run` daemons on one PostgreSQL database, and one on
SQLite, ingesting N unique articles from loopback feeds. The real path: HTTP fetch, feedparser,
extract, match, one transaction per article, alerts, deliveries to a jsonl notifier.

Workload: bench/poll.py's loopback server (aiohttp, its own process) serves N/5 distinct RSS 2.0
feeds of 5 unique items each (seed articles made unique per feed and item), over 50 loopback
addresses. The default watchlist; `first_poll = "alert"` so every new item is matched and may
alert; one jsonl notifier shared by the instances.

Every scenario runs with near-duplicate detection on and off (`--near`, issue 13): the same
feeds, one after the other in the same run, so the two articles/s compare. With `--repeat N`
the runs interleave (on, off, on, off, …) and the on/off ratio is also printed per round.
The items' texts are genuinely different (bench/poll.py draws each body's sentences at random
from the seeds), so near-duplicate detection suppresses nothing and the two runs do the same
work otherwise.

Each scenario gets a fresh database (PostgreSQL: `CREATE DATABASE`, dropped afterwards; SQLite:
a temporary file). The driver migrates it and registers the feeds, then parks them (next poll
in a day), starts K daemons (`bench/scale.py --worker` = `monitor run` with timers installed)
and waits until each has logged "started" and settled. Then it makes every feed due at once (t0)
and watches the database until all N articles are stored and every feed's poll is recorded
("ingest" time) and no delivery is pending ("done"). Imports, migrations and start-up are
outside the window; the daemons' idle ticks inside it count, as they would in production.

Measured, per scenario and per instance:
  - wall: t0 → ingest done; articles/s = N / wall.
  - process CPU: utime+stime of each daemon (all threads) from /proc/PID/stat, t0 → done.
  - in the daemon (monkeypatched timers, monitor's code unchanged): thread CPU and wall of
    `Pipeline.ingest_items` (extract + match + store of a feed's entries) and of every public
    `Store` method, so "store" = SQLAlchemy + driver + waiting on the database, client side.
  - database time, server side (PostgreSQL): `active_time` of pg_stat_database (time backends
    spent executing statements in this database, lock waits included; PostgreSQL ≥ 14), less
    the driver's own probes (their client-side time, an over-estimate); transactions committed;
    and the CPU of this database's backend processes (/proc/PID/stat, sampled every 0.25 s,
    so a backend that lives less than that is missed). pg_stat_statements is not preloaded on
    this server, so per-statement figures are not available.
  - contention: the busy CPU of the whole machine (/proc/stat) beside ours, in cores.
  - checks: articles = N with N distinct hashes; alerts unique per (article, topic);
    deliveries = alerts; the jsonl holds each delivery id once; each feed fetched once.

Run from the repository root (aiohttp is bench-only, in the `bench` extra):

    .venv/bin/pip install -c constraints.txt -e '.[bench]'
    .venv/bin/python bench/scale.py         # 5,000 articles: SQLite ×1, PostgreSQL ×1,2,3
    .venv/bin/python bench/scale.py --articles 1000 --instances 1,3 --no-sqlite
    .venv/bin/python bench/scale.py --articles 1000 --instances 1 --near on,off  # issue 13
    MONITOR_SCALE_PG=postgresql+psycopg://postgres@127.0.0.1/test .venv/bin/python bench/scale.py
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import poll  # noqa: E402  (bench/poll.py: the feed server and its feeds)

DEFAULT_PG = os.environ.get("MONITOR_SCALE_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")
PROBE_EVERY = 0.25
TABLE_STATS = (
    "seq_scan",
    "seq_tup_read",
    "idx_scan",
    "idx_tup_fetch",
    "ins",
    "upd",
    "hot_upd",
    "dead",
)


# --- the daemon, with timers ---------------------------------------------------------------


class Timers:
    """Calls, wall seconds and thread-CPU seconds per timed function, written out at exit."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self.counts: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, fn: Any, count: Any = None) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            result = None
            try:
                result = fn(*args, **kwargs)
                return result
            finally:
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                with self.lock:
                    entry = self.stats[name]
                    entry[0] += 1
                    entry[1] += wall
                    entry[2] += cpu
                    if count is not None:
                        for key, n in count(result).items():
                            self.counts[key] += n

        return timed

    def dump(self, path: Path) -> None:
        with self.lock:
            data = {"stats": dict(self.stats), "counts": dict(self.counts)}
        path.write_text(json.dumps(data), "utf-8")


def worker(args: argparse.Namespace) -> int:
    """`monitor --config … --instance … run`, with Store, ingest and delivery timed."""
    from monitor import cli
    from monitor.delivery import Deliverer
    from monitor.pipeline import Pipeline
    from monitor.store import Store

    timers = Timers()
    # Store is composed of per-aggregate mixins: time every public method along its MRO.
    methods = {}
    for cls in reversed(Store.__mro__):
        methods.update(vars(cls))
    for name, fn in methods.items():
        if isinstance(fn, types.FunctionType) and not name.startswith("_") and name != "close":
            count = None
            if (
                name == "insert_articles"
            ):  # the pipeline's (store_article is a one-article call of it)
                count = lambda stored: {"stored": sum(s is not None for s in stored)}  # noqa: E731
            elif name == "claim_sources":
                count = lambda rows: {"claimed": len(rows or ())}  # noqa: E731
            setattr(Store, name, timers.wrap(f"store.{name}", fn, count))
    import sqlalchemy as sa

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        with timers.lock:
            timers.counts["statements"] += 1
            timers.counts["statement:" + " ".join(sql.split()[:3])[:40]] += 1

    def commit(_conn: Any) -> None:
        with timers.lock:
            timers.counts["commits"] += 1

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", statement)
    sa.event.listen(sa.engine.Engine, "commit", commit)
    Pipeline.ingest_items = timers.wrap("ingest_items", Pipeline.ingest_items)  # type: ignore[method-assign]
    Deliverer.deliver_due = timers.wrap("deliver_due", Deliverer.deliver_due)  # type: ignore[method-assign]
    atexit.register(timers.dump, Path(args.stats))
    return cli.main(["--config", args.config, "--instance", args.instance, "run"])


# --- measuring from outside ----------------------------------------------------------------


def proc_cpu(pid: int) -> float | None:
    """utime + stime of a process (all its threads), seconds; None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


class Database:
    """A fresh database for one scenario, and the driver's probes of it."""

    def __init__(self, backend: str, admin_url: str, workdir: Path, name: str) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.backend = backend
        self.probe_seconds = 0.0
        self.backends: dict[int, tuple[float, float]] = {}  # pid -> (first, last) CPU seen
        if backend == "sqlite":
            self.url = f"sqlite:///{workdir / 'monitor.db'}"
            self.admin = None
        else:
            self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
            self.name = name
            self.url = str(sa.engine.make_url(admin_url).set(database=name).render_as_string(False))
        self.engine = sa.create_engine(self.url)
        with self.engine.connect() as c:
            self.own_pid = (
                c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                if backend == "postgresql"
                else 0
            )

    def execute(self, sql: str, **params: Any) -> Any:
        started = time.perf_counter()
        with self.engine.begin() as c:
            result = c.execute(self.sa.text(sql), params)
            rows = result.all() if result.returns_rows else []
        self.probe_seconds += time.perf_counter() - started
        return rows

    def pg_stats(self) -> dict[str, float]:
        if self.backend != "postgresql":
            return {}
        assert self.admin is not None
        with self.admin.connect() as c:
            row = c.execute(
                self.sa.text(
                    "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_fetched,"
                    " blks_hit, blks_read, active_time, deadlocks, sessions"
                    " FROM pg_stat_database WHERE datname = :n"
                ),
                {"n": self.name},
            ).one()
        return {k: float(v or 0) for k, v in row._mapping.items()}

    def table_stats(self) -> dict[str, dict[str, int]]:
        """Per table: scans, rows read by them, updates and how many were HOT (PostgreSQL)."""
        if self.backend != "postgresql":
            return {}
        rows = self.execute(
            "SELECT relname, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_ins,"
            " n_tup_upd, n_tup_hot_upd, n_dead_tup FROM pg_stat_user_tables"
        )
        return {row[0]: dict(zip(TABLE_STATS, map(int, row[1:]), strict=True)) for row in rows}

    def sample_backends(self) -> None:
        """CPU of this database's backends (the workers' connections), sampled."""
        if self.backend != "postgresql":
            return
        assert self.admin is not None
        with self.admin.connect() as c:
            pids = c.execute(
                self.sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :n AND pid <> :me"),
                {"n": self.name, "me": self.own_pid},
            ).scalars()
            for pid in pids:
                cpu = proc_cpu(pid)
                if cpu is not None:
                    first = self.backends.get(pid, (cpu, cpu))[0]
                    self.backends[pid] = (first, cpu)

    def backend_cpu(self, baseline: dict[int, float]) -> float:
        return sum(last - baseline.get(pid, 0.0) for pid, (_, last) in self.backends.items())

    def drop(self) -> None:
        self.engine.dispose()
        if self.admin is not None:
            with self.admin.connect() as c:
                c.execute(self.sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()


def prepare(config: Path, url: str) -> None:
    """Migrate, register the feeds, and park them (due in a day) until t0."""
    os.environ["MONITOR_DATABASE_URL"] = url
    try:
        from monitor.app import make_app
        from monitor.config import load_config
        from monitor.store.schema import sources

        app = make_app(load_config(config))
        app.start()
        with app.store.engine.begin() as c:
            c.execute(sources.update().values(next_poll_at=datetime.now(UTC) + timedelta(days=1)))
        app.close()
    finally:
        del os.environ["MONITOR_DATABASE_URL"]


def start_worker(workdir: Path, config: Path, url: str, name: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--worker", f"--config={config}"]
    command += [f"--instance={name}", f"--stats={workdir / f'stats-{name}.json'}"]
    with (workdir / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            command,
            env={**os.environ, "MONITOR_DATABASE_URL": url},
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=workdir,
        )


def wait_started(workdir: Path, names: list[str], processes: list[Any]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        logs = [(workdir / f"{n}.log").read_text("utf-8", errors="replace") for n in names]
        if all(" started instance=" in text for text in logs):
            return
        for name, process, text in zip(names, processes, logs, strict=True):
            if process.poll() is not None:
                raise SystemExit(f"worker {name} exited {process.returncode}:\n{text[-3000:]}")
        time.sleep(0.1)
    raise SystemExit("workers did not start within 120 s")


def run_scenario(
    args: argparse.Namespace,
    server: poll.Server,
    backend: str,
    k: int,
    feeds: int,
    near: bool = True,
) -> dict[str, Any]:
    n = feeds * poll.ITEMS_PER_FEED
    with tempfile.TemporaryDirectory(prefix="monitor-bench-scale-") as tmp:
        workdir = Path(tmp)
        urls = [poll.feed_url(i, args.hosts, args.port) for i in range(feeds)]
        config = poll.write_config(workdir, urls, "alert", interval="1h", database=None)
        with config.open("a", encoding="utf-8") as file:  # near-duplicate detection on or off
            file.write(f"\n[dedupe]\nnear = {'true' if near else 'false'}\n")
        db = Database(backend, args.pg, workdir, f"monitor_scale_{os.getpid()}_{backend}_{k}")
        processes: list[subprocess.Popen[bytes]] = []
        try:
            prepare(config, db.url)
            names = [f"w{i + 1}" for i in range(k)]
            processes = [start_worker(workdir, config, db.url, name) for name in names]
            wait_started(workdir, names, processes)
            time.sleep(1.5)  # first ticks, first delivery pass, stats flushed
            db.sample_backends()
            backend_base = {pid: last for pid, (_, last) in db.backends.items()}
            pg_before = db.pg_stats()
            probes_before = db.probe_seconds
            cpu_before = [proc_cpu(p.pid) or 0.0 for p in processes]
            server_before = server.control(reset="1")["cpu"]
            busy_before = machine_busy()
            load_before = os.getloadavg()[0]
            t0_time = datetime.now(UTC)
            started = time.perf_counter()
            db.execute("UPDATE sources SET next_poll_at = :t", t=t0_time.replace(tzinfo=None))
            db.probe_seconds = probes_before  # the t0 update is the workload's start, not a probe
            ingest = done = None
            while True:
                time.sleep(PROBE_EVERY)
                db.sample_backends()
                stored, polled, pending = db.execute(
                    "SELECT (SELECT count(*) FROM articles),"
                    " (SELECT count(*) FROM sources WHERE last_poll_at IS NOT NULL),"
                    " (SELECT count(*) FROM deliveries WHERE status = 'pending')"
                )[0]
                now = time.perf_counter() - started
                if ingest is None and stored >= n and polled >= feeds:
                    ingest = now
                if ingest is not None and pending == 0:
                    done = now
                    break
                if now > args.timeout:
                    raise SystemExit(
                        f"{backend} ×{k}: timeout: {stored}/{n} stored, {polled}/{feeds} polled, "
                        f"{pending} pending; see {workdir}"
                    )
            cpu_after = [proc_cpu(p.pid) or 0.0 for p in processes]
            busy = machine_busy() - busy_before
            served = server.control()
            db.sample_backends()
            backend_cpu = db.backend_cpu(backend_base)
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(60)
            time.sleep(0.5)
            pg_after = db.pg_stats()
            tables = db.table_stats()
            instances = []
            for name, process, before, after in zip(
                names, processes, cpu_before, cpu_after, strict=True
            ):
                stats_path = workdir / f"stats-{name}.json"
                log = (workdir / f"{name}.log").read_text("utf-8", errors="replace")
                if process.returncode or not stats_path.exists():
                    raise SystemExit(f"worker {name} exit {process.returncode}:\n{log[-3000:]}")
                warnings = [ln for ln in log.splitlines() if " WARNING " in ln or " ERROR " in ln]
                instances.append(
                    {"name": name, "cpu": after - before, "warnings": len(warnings),
                     "warning_lines": warnings[:3],
                     **json.loads(stats_path.read_text("utf-8"))}
                )  # fmt: skip
            checks = verify(db, workdir, n, served)
            pg = {key: pg_after.get(key, 0.0) - pg_before.get(key, 0.0) for key in pg_after}
            if pg:
                pg["active_time"] -= (db.probe_seconds - probes_before) * 1000
            return {
                "backend": backend,
                "instances": k,
                "near": near,
                "articles": n,
                "feeds": feeds,
                "wall": ingest,
                "done": done,
                "server_cpu": served["cpu"] - server_before,
                "machine_busy": busy,
                "load": (load_before, os.getloadavg()[0]),
                "backend_cpu": backend_cpu,
                "backend_count": len(db.backends),
                "pg": pg,
                "per_instance": instances,
                "checks": checks,
                "tables": tables,
            }
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            if args.keep:
                db.engine.dispose()
                print(f"  kept {db.url}")
            else:
                db.drop()


def verify(db: Database, workdir: Path, n: int, served: dict[str, Any]) -> dict[str, Any]:
    (row,) = db.execute(
        "SELECT (SELECT count(*) FROM articles),"
        " (SELECT count(DISTINCT content_hash) FROM articles),"
        " (SELECT count(*) FROM alerts),"
        " (SELECT count(*) FROM (SELECT DISTINCT article_id, topic_id FROM alerts) AS a),"
        " (SELECT count(*) FROM deliveries),"
        " (SELECT count(*) FROM deliveries WHERE status = 'sent')"
    )
    articles, hashes, alerts, alert_pairs, deliveries, sent = row
    sink = workdir / "alerts.jsonl"
    ids = (
        [json.loads(line)["id"] for line in sink.read_text("utf-8").splitlines()]
        if (sink.exists())
        else []
    )
    checks = {
        "articles": articles,
        "alerts": alerts,
        "deliveries": deliveries,
        "sent": sent,
        "lines": len(ids),
        "fetches": served["requests"],
        "ok": articles == hashes == n
        and alerts == alert_pairs
        and deliveries == alerts == sent
        and len(ids) == len(set(ids)) == deliveries,
    }
    return checks


# --- the report ------------------------------------------------------------------------------


def _ms(seconds: float, n: int) -> str:
    return f"{seconds * 1000 / n:6.2f}" if n else "     -"


def label(r: dict[str, Any]) -> str:
    name = f"{'PostgreSQL' if r['backend'] == 'postgresql' else 'SQLite'} ×{r['instances']}"
    return f"{name} near {'on' if r.get('near', True) else 'off'}"


def print_report(results: list[dict[str, Any]]) -> None:
    print()
    print("Totals (ms are per article stored; CPU = user+sys; store = client side, in Store calls)")
    head = (
        f"{'scenario':<24} {'wall s':>6} {'art/s':>6} {'CPU s':>6} {'CPU ms':>7} {'store ms':>8}"
        f" {'DB act ms':>9} {'DB CPU ms':>9} {'xact/art':>8} {'srv CPU ms':>10} {'busy cores':>10}"
        f" {'load':>9} {'alerts':>6} {'fetch':>5} {'checks':<6}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        n = r["articles"]
        cpu = sum(i["cpu"] for i in r["per_instance"])
        store = sum(
            v[1] for i in r["per_instance"] for k, v in i["stats"].items() if k.startswith("store.")
        )
        pg = r["pg"]
        ours = cpu + r["backend_cpu"] + r["server_cpu"]
        active = f"{pg['active_time'] / n:9.2f}" if pg else "-"
        backend_cpu = _ms(r["backend_cpu"], n) if pg else "-"
        xacts = f"{pg['xact_commit'] / n:8.2f}" if pg else "-"
        busy = f"{r['machine_busy'] / r['done']:.2f} ({ours / r['done']:.2f})"
        load = f"{r['load'][0]:.1f}→{r['load'][1]:.1f}"
        checks = r["checks"]
        print(
            f"{label(r):<24} {r['wall']:6.2f} {n / r['wall']:6.0f} {cpu:6.2f} {_ms(cpu, n):>7}"
            f" {_ms(store, n):>8} {active:>9} {backend_cpu:>9} {xacts:>8}"
            f" {_ms(r['server_cpu'], n):>10} {busy:>10} {load:>9}"
            f" {checks['alerts']:6d} {checks['fetches']:5d} {'ok' if checks['ok'] else 'FAIL'}"
        )
    print()
    print("Per instance (ms per article that instance stored)")
    head = (
        f"{'scenario':<24} {'inst':<4} {'feeds':>5} {'articles':>8} {'CPU s':>6} {'CPU ms':>7}"
        f" {'ingest CPU':>10} {'store CPU':>9} {'store wall':>10} {'insert_arts':>13}"
        f" {'claim+finish':>12} {'deliver CPU':>11} {'warn':>4}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        for i in r["per_instance"]:
            n = i["counts"].get("stored", 0)
            s = defaultdict(lambda: [0, 0.0, 0.0], i["stats"])
            store_cpu = sum(v[2] for k, v in s.items() if k.startswith("store."))
            store_wall = sum(v[1] for k, v in s.items() if k.startswith("store."))
            claim = s["store.claim_sources"][1] + s["store.finish_poll"][1]
            print(
                f"{label(r):<24} {i['name']:<4} {i['counts'].get('claimed', 0):5d} {n:8d}"
                f" {i['cpu']:6.2f} {_ms(i['cpu'], n):>7} {_ms(s['ingest_items'][2], n):>10}"
                f" {_ms(store_cpu, n):>9} {_ms(store_wall, n):>10}"
                f" {_ms(s['store.insert_articles'][1], n):>13} {_ms(claim, n):>12}"
                f" {_ms(s['deliver_due'][2], n):>11} {i['warnings']:4d}"
            )
    for r in results:
        for i in r["per_instance"]:
            for line in i.get("warning_lines", []):
                print(f"  {label(r)} {i['name']}: {line[:160]}")
    print()
    print(
        "wall: t0 (all feeds due) → all articles stored and every poll recorded (deliveries were\n"
        "drained by 'done', within a second after). CPU ms: daemons' CPU / articles. store ms:\n"
        "wall time inside Store methods (all threads) / articles. DB act ms: pg_stat_database\n"
        "active_time / articles (server-side statement time incl. lock waits, driver probes\n"
        "subtracted). DB CPU ms: CPU of this database's PostgreSQL backends / articles. xact/art:\n"
        "commits per article. busy cores: whole machine during the run (ours: daemons + backends\n"
        "+ feed server). ingest CPU: thread CPU in Pipeline.ingest_items (extract, match, store);\n"
        "the rest of an instance's CPU is fetch + feedparser + event loop + delivery + logging.\n"
        "insert_arts (insert_articles), claim+finish: wall ms in those Store calls. fetch: feed\n"
        "requests served (= feeds: none fetched twice). checks: N distinct articles, alerts\n"
        "unique per (article, topic), one delivery per alert, all sent, each once in the jsonl."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=5000, help="rounded up to 5 per feed")
    parser.add_argument("--instances", default="1,2,3", help="PostgreSQL instance counts")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite scenario")
    parser.add_argument(
        "--near",
        default="on,off",
        help='near-duplicate detection in each scenario: "on,off" (default: both, in the same '
        'run, for the comparison), "on" or "off"',
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (median shown)")
    parser.add_argument("--pg", default=DEFAULT_PG, help="admin URL (CREATE DATABASE rights)")
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses to spread over")
    parser.add_argument("--port", type=int, default=18095)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the databases (to inspect)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.exit(worker(args))
    feeds = -(-args.articles // poll.ITEMS_PER_FEED)
    nears = [{"on": True, "off": False}[v] for v in args.near.split(",") if v]
    scenarios = [] if args.no_sqlite else [("sqlite", 1, near) for near in nears]
    scenarios += [
        ("postgresql", int(k), near) for k in args.instances.split(",") if k for near in nears
    ]
    server = poll.Server(feeds, args.hosts, args.port, use_gzip=False)
    results = []
    try:
        size = server.control()["bytes"] / feeds / 1024
        print(
            f"{feeds * poll.ITEMS_PER_FEED} articles = {feeds} feeds × {poll.ITEMS_PER_FEED} "
            f"items ({size:.1f} KiB each) over {args.hosts} loopback hosts; {os.cpu_count()} "
            f"CPUs; Python {sys.version.split()[0]}"
        )
        # Repetitions interleave the scenarios (on, off, on, off, …): this machine drifts
        # between faster and slower phases within minutes, and a phase must not fall on one
        # mode's runs only. The near ratio is also given per round (paired runs).
        runs: dict[tuple[str, int, bool], list[dict[str, Any]]] = {s: [] for s in scenarios}
        for _ in range(args.repeat):
            for backend, k, near in scenarios:
                r = run_scenario(args, server, backend, k, feeds, near)
                print(
                    f"  {label(r)}: {r['wall']:.2f} s, {r['articles'] / r['wall']:.0f} art/s,"
                    f" checks {'ok' if r['checks']['ok'] else 'FAIL ' + str(r['checks'])}",
                    flush=True,
                )
                runs[backend, k, near].append(r)
        for scenario in scenarios:
            ordered = sorted(runs[scenario], key=lambda r: r["wall"])
            results.append(ordered[len(ordered) // 2])
            if args.repeat > 1:
                walls = [r["wall"] for r in runs[scenario]]
                print(f"  {label(ordered[0])}: walls {', '.join(f'{w:.2f}' for w in walls)}; "
                      f"median {statistics.median(walls):.2f} s")  # fmt: skip
        for backend, k, near in scenarios:
            if near and (backend, k, False) in runs:
                on, off = runs[backend, k, True], runs[backend, k, False]
                ratios = [b["wall"] / a["wall"] for a, b in zip(on, off, strict=True)]
                print(f"  {backend} ×{k} near on / off, per round: "
                      f"{', '.join(f'{x:.0%}' for x in ratios)}; "
                      f"median {statistics.median(ratios):.0%}")  # fmt: skip
    finally:
        server.close()
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), "utf-8")
    if not all(r["checks"]["ok"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
