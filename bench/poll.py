"""Poll benchmark (issue 3): 1,000 loopback feeds through `App.run_once`, the real way.

A loopback HTTP server (aiohttp, bench-only, in its own process so its CPU is not monitor's)
serves N distinct RSS 2.0 feeds of ~30 KB with 5 items each: the five seed articles, each made
unique per feed and item (title, a numbered paragraph, and after its first paragraph the seeds'
characters drawn at random: no two items are near-duplicates either), so dedupe hides no work.
Feeds are spread round-robin over H loopback addresses (127.0.0.1 … 127.0.0.H, one port): the
per-host limit is keyed by host name, so H hosts allow H × per_host fetches at once (the global
`concurrency` still caps it).

Each scenario runs in a fresh monitor process (so peak RSS is its own): a temporary config dir
with N `[[feeds]]` (allow_private_network = true), a temporary SQLite database, the default
watchlist, a jsonl notifier, shipped `[fetch]` defaults, logging at INFO to a file as `monitor
run` would. Then `make_app(load_config(...))`, `app.start()`, and `app.run_once()` three times:

    full       every feed answers 200 with ETag and Last-Modified (a new database: all new)
    304        the server honours If-None-Match: every feed answers 304
    unchanged  the server sends the same bodies again, without validators: 200, same hash

CPU is user+sys of the monitor process (all its threads, plus any waited-for children) from
`resource.getrusage`, around `run_once` only. The server's CPU is reported beside it.

Run from the repository root (aiohttp and, for --profile, py-spy are bench-only tools, in the
`bench` extra):

    .venv/bin/pip install -c constraints.txt -e '.[bench]'
    .venv/bin/python bench/poll.py                     # 1,000 feeds, first_poll skip and alert
    .venv/bin/python bench/poll.py --feeds 100 --first-poll skip   # a quick run
    .venv/bin/python bench/poll.py --server-only       # the server alone, with an aiohttp client
    .venv/bin/python bench/poll.py --profile           # py-spy of the full poll, by library
    .venv/bin/python bench/poll.py --versus rss2email  # both as whole processes (bench/versus.py)

Targets (issue 3, this 2-core machine): full ≤ 15 s, all-304 ≤ 2 s, all-unchanged ≤ 4 s.

`--versus rss2email` (bench/versus.py) instead times `monitor run --once` and rss2email 3.14 as
whole processes on this same server, first poll and all-304, and prints both with the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import email.utils
import gzip
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
WATCHLIST = ROOT / "config" / "watchlist.toml"
TARGETS = {"full": 15.0, "304": 2.0, "unchanged": 4.0}
ITEMS_PER_FEED = 5
CAPTURED = re.compile(r"\A<!--\s*(\d+)\s*-->\s*\n\[([^\n]*)\]\(([^\s)]*)\)\s*\n-{3,}\s*\n", re.M)
FILLERS = (
    "本台記者持續關注事態發展，更多細節將在稍後公布。",
    "外交部發言人表示將與各方保持密切溝通。",
    "分析人士認為，局勢在未來數週仍存在相當的不確定性。",
    "官員說，相關談判預計在下週恢復，但雙方立場仍有分歧。",
    "多家智庫的研究人員對此發表了不同看法。",
)


# --- the feeds ---------------------------------------------------------------------------


def _seed_items() -> list[tuple[str, str, str, int]]:
    """(title, url, html, captured ms) of each seed, its published-time marker removed."""
    items = []
    for path in sorted(SEEDS.glob("*.txt")):
        raw = path.read_text("utf-8")
        header = CAPTURED.match(raw)
        if header:
            html = re.sub(r"<div><i>.*?</i></div>", "", raw[header.end() :], count=1, flags=re.S)
            items.append((header[2], header[3], html.strip(), int(header[1])))
            continue
        # A plain-text seed: its paragraphs become <p>, its first sentence the title.
        paragraphs = [p.strip() for p in raw.split("\n") if p.strip()]
        title = re.split(r"(?<=[。！？])", paragraphs[0])[0][:60]
        html = "".join(f"<p>{p}</p>" for p in paragraphs)
        url = f"https://www.dw.com/zh/{path.stem}"
        items.append((title, url, html, 1717200000000))
    return items


def _alphabet(seeds: list[tuple[str, str, str, int]]) -> list[str]:
    """The CJK characters of the seed articles, with their frequencies (a list with repeats),
    which item bodies are drawn from."""
    text = "".join(re.sub(r"<[^>]+>", "", html) for _, _, html, _ in seeds)
    return re.findall(r"[\u4e00-\u9fff]", text)


def make_feed(index: int, seeds: list[tuple[str, str, str, int]]) -> bytes:
    """RSS 2.0, 5 items: the seeds rotated, each with its own title suffix and paragraph.

    Each body keeps its seed's first paragraph (the terms the default watchlist matches) and
    its size, but the rest is the seeds' characters drawn at random with their frequencies
    (seeded by the item's serial), so that no two items are near-duplicates (issue 13): bodies
    that differed only in a number would be one story, and their alerts suppressed. (Drawing
    whole sentences of the seeds was not enough: two items then reached similarity 0.62.)"""
    alphabet = _alphabet(seeds)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
        f"<channel><title>德國之聲中文網 第{index}號頻道</title>"
        f"<link>http://feeds.example/{index}/</link>"
        f"<description>第{index}號新聞源</description><language>zh-tw</language>\n"
    ]
    for item in range(ITEMS_PER_FEED):
        title, url, html, captured = seeds[(index + item) % len(seeds)]
        serial = index * ITEMS_PER_FEED + item
        unique = (
            f"<p>（本台第{index}號消息源第{item + 1}則報導，編號{serial:06d}）"
            f"{FILLERS[serial % len(FILLERS)]}</p>"
        )
        cut = html.find("</p>") + 4  # after the first paragraph, as an editor's note would be
        cut = cut if cut > 3 else 0
        chars = random.Random(serial).choices(alphabet, k=max(0, len(html) - cut) * 2 // 3)
        rest = ["".join(chars[i : i + 40]) + "。" for i in range(0, len(chars), 40)]
        body = html[:cut] + unique + "".join(f"<p>{p}</p>" for p in rest)
        published = email.utils.formatdate((captured - serial * 60_000) / 1000, usegmt=True)
        parts.append(
            f"<item><title>{title}（{serial:06d}）</title>"
            f"<link>{url}?feed={index}&amp;item={item}&amp;utm_source=rss</link>"
            f'<guid isPermaLink="false">bench-{index}-{item}</guid>'
            f"<pubDate>{published}</pubDate>"
            f"<description><![CDATA[{body}]]></description></item>\n"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


def feed_url(index: int, hosts: int, port: int) -> str:
    return f"http://127.0.0.{index % hosts + 1}:{port}/feed/{index}.xml"


# --- the server (its own process) -----------------------------------------------------------


def serve(feeds: int, hosts: int, port: int, use_gzip: bool) -> None:
    from aiohttp import web

    seeds = _seed_items()
    bodies = [make_feed(i, seeds) for i in range(feeds)]
    zipped = [gzip.compress(b, 6) for b in bodies] if use_gzip else []
    etags = [f'"{hashlib.sha1(b).hexdigest()[:16]}"' for b in bodies]
    modified = email.utils.formatdate(time.time() - 3600, usegmt=True)
    state: dict[str, Any] = {"mode": "validators", "requests": 0, "statuses": {}, "conns": set()}

    async def feed(request: web.Request) -> web.Response:
        index = int(request.match_info["n"])
        state["requests"] += 1
        state["conns"].add(id(request.transport))
        headers = {"Content-Type": "application/rss+xml; charset=utf-8"}
        if state["mode"] == "validators":
            headers["ETag"] = etags[index]
            headers["Last-Modified"] = modified
            if request.headers.get("If-None-Match") == etags[index]:
                state["statuses"][304] = state["statuses"].get(304, 0) + 1
                return web.Response(status=304, headers=headers)
        state["statuses"][200] = state["statuses"].get(200, 0) + 1
        if use_gzip and "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=zipped[index], headers=headers)
        return web.Response(body=bodies[index], headers=headers)

    async def control(request: web.Request) -> web.Response:
        if "mode" in request.query:
            state["mode"] = request.query["mode"]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        answer = {
            "mode": state["mode"],
            "requests": state["requests"],
            "statuses": state["statuses"],
            "connections": len(state["conns"]),
            "cpu": usage.ru_utime + usage.ru_stime,
            "bytes": sum(map(len, bodies)),
        }
        if "reset" in request.query:
            state.update(requests=0, statuses={}, conns=set())
        return web.json_response(answer)

    async def main() -> None:
        app = web.Application()
        app.router.add_get(r"/feed/{n:\d+}.xml", feed)
        app.router.add_get("/_control", control)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=75)
        await runner.setup()
        for host in range(1, hosts + 1):
            await web.TCPSite(runner, f"127.0.0.{host}", port, backlog=1024).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class Server:
    def __init__(self, feeds: int, hosts: int, port: int, use_gzip: bool) -> None:
        self.port = port
        command = [sys.executable, __file__, "--serve", f"--feeds={feeds}", f"--hosts={hosts}"]
        command += [f"--port={port}"] + (["--gzip"] if use_gzip else [])
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            raise SystemExit(f"server did not start: {line!r}")

    def control(self, **query: str) -> dict[str, Any]:
        text = "&".join(f"{k}={v}" for k, v in query.items())
        url = f"http://127.0.0.1:{self.port}/_control?{text}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)


# --- monitor (its own process per scenario) ------------------------------------------------


def write_config(
    workdir: Path,
    urls: list[str],
    first_poll: str,
    *,
    interval: str = "10m",
    database: str | None = "sqlite:///monitor.db",
) -> Path:
    """A config with one feed per URL, the default watchlist and a jsonl sink. `database`
    None: leave it to MONITOR_DATABASE_URL (bench/scale.py)."""
    shutil.copy(WATCHLIST, workdir / "watchlist.toml")
    lines = [f'database = "{database}"'] if database else []
    lines += [
        'watchlist = "watchlist.toml"',
        'log_level = "info"',
        "",
        "[[notifiers]]",
        'name = "archive"',
        'type = "jsonl"',
        'path = "alerts.jsonl"',
    ]
    for index, url in enumerate(urls):
        lines += [
            "",
            "[[feeds]]",
            f'id = "feed-{index:05d}"',
            f'url = "{url}"',
            f'interval = "{interval}"',
            f'first_poll = "{first_poll}"',
            "allow_private_network = true",
        ]
    path = workdir / "monitor.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def _cpu() -> float:
    return _own_cpu() + _children_cpu()


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _children_cpu() -> float:
    """CPU of the children reaped so far (RUSAGE_CHILDREN) plus that of the live ones (/proc):
    a difference of two readings is the children's CPU in between, even for a parse worker
    that lives through several passes and exits in a later one (RUSAGE_CHILDREN alone would
    charge its whole life to the pass in which it exits)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime + _live_children_cpu()


def _live_children_cpu() -> float:
    me, total = os.getpid(), 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile: reaped, so in RUSAGE_CHILDREN
        if int(fields[1]) == me:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def worker(args: argparse.Namespace) -> None:
    """One scenario in this process; prints one JSON line per poll on stdout."""
    from monitor.cli import _setup_logging
    from monitor.config import load_config

    workdir = Path(args.workdir)
    urls = [feed_url(i, args.hosts, args.port) for i in range(args.feeds)]
    config = write_config(workdir, urls, args.first_poll)
    log_file = (workdir / "monitor.log").open("a", encoding="utf-8")
    os.dup2(log_file.fileno(), 2)  # `monitor run` logs to stderr: keep it, in a file
    _setup_logging("info")

    from monitor.app import make_app

    server = Server.__new__(Server)
    server.port = args.port
    app = make_app(load_config(config))
    app.start()
    delivery = {"wall": 0.0, "cpu": 0.0}
    deliver = app.deliver

    def timed_deliver(**kwargs: Any) -> Any:  # run_once's last step, timed on its own
        cpu, wall = _cpu(), time.perf_counter()
        try:
            return deliver(**kwargs)
        finally:
            delivery["wall"] += time.perf_counter() - wall
            delivery["cpu"] += _cpu() - cpu

    app.deliver = timed_deliver  # type: ignore[method-assign]
    for mode, server_mode in (("full", "validators"), ("304", "validators"), ("unchanged", "none")):
        if args.only and mode != args.only:
            break
        server_before = server.control(mode=server_mode, reset="1")["cpu"]
        delivery.update(wall=0.0, cpu=0.0)
        profiler = _start_py_spy(workdir, mode) if args.profile and mode == "full" else None
        cpu, own, wall = _cpu(), _own_cpu(), time.perf_counter()
        report = app.run_once()
        wall, cpu, own = time.perf_counter() - wall, _cpu() - cpu, _own_cpu() - own
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        served = server.control()
        result = {
            "mode": mode,
            "first_poll": args.first_poll,
            "wall": wall,
            "cpu": cpu,
            "cpu_main": own,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "new": report.ingest.new,
            "updated": report.ingest.updated,
            "duplicates": report.ingest.duplicates,
            "skipped": report.ingest.skipped,
            "alerts": report.ingest.alerts,
            "delivered": report.delivery.sent,
            "deliver_wall": delivery["wall"],
            "failed": len(report.failed_sources),
            "requests": served["requests"],
            "statuses": served["statuses"],
            "connections": served["connections"],
            "server_cpu": served["cpu"] - server_before,
        }
        print(json.dumps(result), flush=True)
    app.close()


def _start_py_spy(workdir: Path, mode: str) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = workdir / f"profile-{mode}.txt"
    # --gil: only the thread holding the GIL is sampled, i.e. Python CPU, not threads waiting.
    command = [spy, "record", "--pid", str(os.getpid()), "--rate", "200", "--gil"]
    command += ["--format", "raw"]
    process = subprocess.Popen(
        [*command, "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # let it attach
    return process


# --- the profile, by library -----------------------------------------------------------------

CATEGORIES = (
    ("httpcore", "httpx/httpcore/h11/anyio"),
    ("httpx", "httpx/httpcore/h11/anyio"),
    ("h11", "httpx/httpcore/h11/anyio"),
    ("anyio", "httpx/httpcore/h11/anyio"),
    ("feedparser", "feedparser (+sgmllib, xml.sax)"),
    ("sgmllib", "feedparser (+sgmllib, xml.sax)"),
    ("bs4", "bs4 (+lxml)"),
    ("lxml", "bs4 (+lxml)"),
    ("opencc", "opencc"),
    ("ahocorasick", "matching (ahocorasick)"),
    ("sqlalchemy", "sqlalchemy + sqlite3"),
    ("sqlite3", "sqlalchemy + sqlite3"),
    ("monitor/text.py", "monitor.text (NFKC, t2s, hash)"),
    ("monitor/match.py", "monitor.match"),
    ("monitor/extract.py", "monitor.extract (own code)"),
    ("monitor/sources/http.py", "monitor.sources.http (own code)"),
    ("monitor/sources/feed.py", "monitor.sources.feed (own code)"),
    ("monitor/store", "monitor.store (own code)"),
    ("monitor/", "monitor (other own code)"),
    ("logging", "logging"),
    ("asyncio", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("concurrent/futures", "threads (to_thread)"),
    ("threading", "threads (to_thread)"),
)


def _category(frame: str) -> str | None:
    match = re.search(r"\(([^()]*):\d+\)\s*$", frame)
    path = match[1] if match else frame
    for needle, name in CATEGORIES:
        if f"/{needle}" in path or path.startswith(needle):
            return name
    return None


def summarize_profile(path: Path, top: int = 25) -> str:
    """Samples of the raw py-spy output by library: a sample counts for the innermost library
    (or monitor module) on its stack, so stdlib code counts for whoever called it.
    """
    by_library: collections.Counter[str] = collections.Counter()
    by_function: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text("utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        library = next((c for f in reversed(frames) if (c := _category(f))), "other (stdlib)")
        by_library[library] += count
        leaf = re.sub(r"\s*\(.*?/(site-packages|lib/python3\.\d+)/", " (", frames[-1])
        by_function[leaf] += count
    if not total:
        return "(no samples)"
    lines = [f"{total} samples; share of the monitor process's busy samples, by library:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in by_library.most_common()]
    lines.append(f"top {top} leaf frames:")
    lines += [f"  {n / total:6.1%}  {name[:110]}" for name, n in by_function.most_common(top)]
    return "\n".join(lines)


# --- the server alone ------------------------------------------------------------------------


async def _load(urls: list[str], concurrency: int) -> tuple[int, int]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    done = size = 0
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        queue = list(reversed(urls))

        async def one() -> None:
            nonlocal done, size
            while queue:
                async with session.get(queue.pop()) as response:
                    size += len(await response.read())
                    done += 1

        await asyncio.gather(*(one() for _ in range(concurrency)))
    return done, size


def server_only(args: argparse.Namespace) -> None:
    server = Server(args.feeds, args.hosts, args.port, args.gzip)
    try:
        urls = [feed_url(i, args.hosts, args.port) for i in range(args.feeds)]
        for concurrency in (20, 50):
            before = server.control(reset="1")
            cpu, wall = _cpu(), time.perf_counter()
            done, size = asyncio.run(_load(urls, concurrency))
            wall, cpu = time.perf_counter() - wall, _cpu() - cpu
            after = server.control()
            server_cpu = after["cpu"] - before["cpu"]
            print(
                f"server alone, aiohttp client × {concurrency}: {done} req in {wall:.2f} s = "
                f"{done / wall:,.0f} req/s, {size / done / 1024:.1f} KiB/feed; server CPU "
                f"{server_cpu * 1000 / done:.2f} ms/req, client CPU {cpu * 1000 / done:.2f} ms/req"
            )
    finally:
        server.close()


# --- the driver ------------------------------------------------------------------------------


def run_scenario(args: argparse.Namespace, first_poll: str, profile: bool) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="monitor-bench-poll-") as tmp:
        command = [sys.executable, __file__, "--worker", f"--workdir={tmp}"]
        command += [f"--feeds={args.feeds}", f"--hosts={args.hosts}", f"--port={args.port}"]
        command += [f"--first-poll={first_poll}"]
        command += ["--profile", "--only=full"] if profile else []
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        log = Path(tmp, "monitor.log")
        warnings = [ln for ln in log.read_text("utf-8").splitlines() if " WARNING " in ln]
        if done.returncode or warnings:
            note = f"worker exit {done.returncode}; {len(warnings)} warnings, e.g.:"
            print(note, file=sys.stderr)
            print("\n".join(warnings[:5]), file=sys.stderr)
        if profile:
            out = Path(tmp, "profile-full.txt")
            if out.exists():
                kept = ROOT / "var" / "bench-poll-profile.txt"
                kept.parent.mkdir(exist_ok=True)
                shutil.copy(out, kept)
                print(summarize_profile(out))
                print(f"(raw py-spy samples kept in {kept.relative_to(ROOT)})")
            else:
                print("py-spy wrote no profile (is it installed? ptrace allowed?)")
        return results


def print_table(rows: list[dict[str, Any]], feeds: int) -> None:
    head = (
        f"{'first_poll':<10} {'poll':<9} {'wall s':>7} {'target':>7} {'CPU s':>6} {'CPU/feed':>9}"
        f" {'main':>6} {'req/s':>6} {'statuses':<16} {'conns':>5} {'new':>5} {'upd':>4} {'dup':>5}"
        f" {'alerts':>6} {'sent':>5} {'deliver':>7} {'fail':>4} {'srv CPU':>7} {'RSS MiB':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        target = TARGETS[r["mode"]] * feeds / 1000
        ok = "ok" if r["wall"] <= target else "MISS"
        rss = f"{r['rss_mib']:.0f}"
        statuses = ",".join(f"{k}:{v}" for k, v in sorted(r["statuses"].items()))
        print(
            f"{r['first_poll']:<10} {r['mode']:<9} {r['wall']:7.2f} {f'≤{target:g} {ok}':>7}"
            f" {r['cpu']:6.2f} {r['cpu'] * 1000 / feeds:6.1f} ms {r['cpu_main']:6.2f}"
            f" {r['requests'] / r['wall']:6.0f}"
            f" {statuses:<16} {r['connections']:5d} {r['new']:5d} {r['updated']:4d}"
            f" {r['duplicates']:5d} {r['alerts']:6d} {r['delivered']:5d}"
            f" {r['deliver_wall']:6.2f}s {r['failed']:4d}"
            f" {r['server_cpu']:7.2f} {rss:>7}"
        )
    print(
        "CPU = user+sys of the monitor process during run_once, its parse workers included "
        "(main: the monitor process alone; sent: alerts delivered by it, "
        "in `deliver` s of the wall time); "
        "srv CPU = the server process's, same poll; RSS = peak of the monitor process so far "
        "(its parsing workers, [fetch] workers, are not counted). Targets "
        "scale with --feeds (issue 3 gives them for 1,000)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses to spread over")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--first-poll", choices=("skip", "alert", "both"), default="both")
    parser.add_argument("--gzip", action="store_true", help="serve gzip to clients that ask")
    parser.add_argument("--profile", action="store_true", help="py-spy of the full poll")
    parser.add_argument("--server-only", action="store_true", help="measure the server alone")
    parser.add_argument(
        "--versus", choices=("rss2email",), help="both tools as whole processes (bench/versus.py)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="--versus: median of N runs")
    parser.add_argument(
        "--keep-state", action="store_true", help="--versus: keep each run's files in var/"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.feeds, args.hosts, args.port, args.gzip)
    if args.worker:
        return worker(args)
    if args.server_only:
        return server_only(args)
    if args.versus:
        from versus import compare  # bench/versus.py

        raise SystemExit(compare(args))
    server = Server(args.feeds, args.hosts, args.port, args.gzip)
    try:
        size = server.control()["bytes"] / args.feeds / 1024
        print(
            f"{args.feeds} feeds × {ITEMS_PER_FEED} items, {size:.1f} KiB each, over "
            f"{args.hosts} loopback hosts; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
        )
        if args.profile:
            run_scenario(args, "alert" if args.first_poll == "alert" else "skip", profile=True)
            return None
        rows: list[dict[str, Any]] = []
        for first_poll in ("skip", "alert") if args.first_poll == "both" else (args.first_poll,):
            rows += run_scenario(args, first_poll, profile=False)
        print_table(rows, args.feeds)
    finally:
        server.close()
    return None


if __name__ == "__main__":
    main()
