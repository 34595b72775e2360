"""monitor against rss2email 3.14 on the same feeds (issue 5): `bench/poll.py --versus rss2email`.

bench/poll.py's loopback server (its own process) serves N feeds of ~31 KiB with 5 items each
over H loopback addresses. Each tool polls them as a whole process, timed from outside:

    first   monitor: `monitor run --once` on a new SQLite database with `first_poll = "alert"`
            and a jsonl notifier (poll.py's write_config), so every item is stored, matched
            and its alerts written; rss2email: `r2e run` on a new data file, every item mailed
            to a Maildir. Every feed answers 200 with ETag and Last-Modified.
    304     the same command again on the state the first run left: both send the validators
            they stored (monitor its own, rss2email feedparser's etag/modified), and the
            server answers 304 to every feed.

Both run from compiled bytecode: rss2email's venv was compiled by pip, and monitor's package
is compiled (`python -m compileall monitor`) before the first run, as a non-editable install
or any earlier run would have left it.

Order per repetition: monitor first, rss2email first, monitor 304, rss2email 304; each
repetition starts from a fresh database, data file and Maildir (the server keeps running).

rss2email runs from a throwaway venv, bench/.cache/rss2email-3.14/ (git-ignored; created with
`pip install rss2email==3.14` on first use; delete the directory to rebuild it). Its config is
written the way `r2e new` + `r2e add` leave it: a [DEFAULT] section (`to`, `email-protocol =
maildir`, `maildir-path`, `maildir-mailbox`) and one `[feed.NAME]` section with the `url` per
feed, everything else rss2email's defaults (html2text conversion, one message per item, log
level info). A feed found in the config but not in the data file starts with nothing seen,
exactly as after `r2e add` without `--only-new`, so the first `r2e run` mails every item.

Measured per run with `/usr/bin/time -f` (or, without it, `os.wait4`'s rusage of the child):
wall seconds, user+sys CPU seconds (the process and the children it waited for: monitor's
parsing workers are included) and max RSS (of the largest single process, not a sum). Checks:
the server saw N requests with the expected statuses; monitor stored N × 5 articles (its
"pass done new=" log line) and wrote alerts; the Maildir holds N × 5 messages after the first
run and no new ones after the 304 run; neither tool logged an error. A failed check is printed
and makes the exit status 1.

    .venv/bin/pip install -c constraints.txt -e '.[bench]'
    .venv/bin/python bench/poll.py --versus rss2email                 # 1,000 feeds, once
    .venv/bin/python bench/poll.py --versus rss2email --repeat 5      # medians of 5
    .venv/bin/python bench/poll.py --versus rss2email --feeds 50      # a quick check
"""

from __future__ import annotations

import argparse
import mailbox
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import poll

RSS2EMAIL = "3.14"
CACHE = poll.ROOT / "bench" / ".cache"
TIME = "/usr/bin/time"
RUNS = ("first", "304")


# --- rss2email's throwaway venv ------------------------------------------------------------


def rss2email_venv() -> Path:
    """The `r2e` script of bench/.cache/rss2email-3.14, created on first use."""
    venv = CACHE / f"rss2email-{RSS2EMAIL}"
    r2e = venv / "bin" / "r2e"
    if r2e.exists():
        done = subprocess.run([str(r2e), "--version"], capture_output=True, text=True)
        if done.stdout.split()[-1:] == [RSS2EMAIL]:
            return r2e
        shutil.rmtree(venv)
    print(f"creating {venv.relative_to(poll.ROOT)} (pip install rss2email=={RSS2EMAIL}) …")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--disable-pip-version-check", f"rss2email=={RSS2EMAIL}"], check=True)
    return r2e


def compile_monitor() -> None:
    """Compile monitor's bytecode, as `pip install` did rss2email's: an editable install leaves
    its .py files uncompiled until a run writes __pycache__, which PYTHONDONTWRITEBYTECODE (or a
    read-only checkout) prevents, and then every run compiles ~70 modules again (~80 ms)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(poll.ROOT / "monitor")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def write_rss2email_config(workdir: Path, urls: list[str]) -> Path:
    """What `r2e new bench@example.invalid` and one `r2e add` per feed would write, with the
    Maildir sink; rss2email's defaults for everything else."""
    lines = [
        "[DEFAULT]",
        "to = bench@example.invalid",
        "email-protocol = maildir",
        f"maildir-path = {workdir / 'Maildir'}",
        "maildir-mailbox = INBOX",
    ]
    for index, url in enumerate(urls):
        lines += ["", f"[feed.feed-{index:05d}]", f"url = {url}"]
    path = workdir / "rss2email.cfg"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


# --- one process, timed ----------------------------------------------------------------------


def timed(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run `command` to completion; wall s, user+sys CPU s, max RSS MiB and its exit status."""
    with log.open("ab") as err:
        if Path(TIME).exists():
            out = cwd / "time.out"
            wall = time.perf_counter()
            done = subprocess.run(
                [TIME, "-f", "%U %S %M", "-o", str(out), *command],
                cwd=cwd,
                env=env,
                stdout=err,
                stderr=err,
            )
            wall = time.perf_counter() - wall
            # With a non-zero exit, time writes "Command exited with …" first: take the last line.
            user, system, rss_kib = out.read_text().split("\n")[-2].split()
            cpu, rss = float(user) + float(system), int(rss_kib) / 1024
            status = done.returncode
        else:  # the child's own rusage, from wait4 (its waited-for children included, as time)
            wall = time.perf_counter()
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=err, stderr=err)
            _, wait_status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - wall
            process.returncode = status = os.waitstatus_to_exitcode(wait_status)
            cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
    return {"wall": wall, "cpu": cpu, "rss": rss, "status": status}


def _env(workdir: Path) -> dict[str, str]:
    """The caller's environment without MONITOR_* (no other database or config) and with
    rss2email's lock file (in $XDG_RUNTIME_DIR) inside the work directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["XDG_RUNTIME_DIR"] = str(workdir)
    return env


# --- one repetition --------------------------------------------------------------------------


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(1 for _ in f)


def repetition(
    server: poll.Server, urls: list[str], r2e: Path, keep: Path | None
) -> tuple[dict[tuple[str, str], dict[str, Any]], list[str]]:
    """The four runs on fresh state: {(tool, run): figures}, and the failed checks."""
    feeds, items = len(urls), len(urls) * poll.ITEMS_PER_FEED
    monitor_bin = str(Path(sys.executable).parent / "monitor")
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="monitor-bench-versus-") as tmp:
        mon_dir, r2e_dir = Path(tmp, "monitor"), Path(tmp, "rss2email")
        mon_dir.mkdir()
        r2e_dir.mkdir()
        config = poll.write_config(mon_dir, urls, "alert")
        r2e_config = write_rss2email_config(r2e_dir, urls)
        (r2e_dir / "Maildir").mkdir()  # as ~/Maildir would be: rss2email creates only INBOX
        commands = {
            "monitor": ([monitor_bin, "--config", str(config), "run", "--once"], mon_dir),
            "rss2email": (
                [str(r2e), "-c", str(r2e_config), "-d", str(r2e_dir / "rss2email.json"), "run"],
                r2e_dir,
            ),
        }
        maildir = r2e_dir / "Maildir" / "INBOX"
        messages = 0
        for run in RUNS:
            for tool, (command, cwd) in commands.items():
                log = cwd / f"{run}.log"
                server.control(mode="validators", reset="1")
                row = timed(command, cwd, _env(cwd), log)
                served = server.control()
                text = log.read_text("utf-8", errors="replace")
                expected = {"200": feeds} if run == "first" else {"304": feeds}
                if served["statuses"] != expected:
                    problems.append(f"{tool} {run}: server statuses {served['statuses']}")
                if row["status"]:
                    problems.append(f"{tool} {run}: exit status {row['status']}")
                if tool == "monitor":
                    stored = re.findall(r"\bnew=(\d+)", text)
                    row["new"] = int(stored[-1]) if stored else -1
                    row["alerts"] = _count_lines(cwd / "alerts.jsonl")
                    errors = [ln for ln in text.splitlines() if " ERROR " in ln]
                    want_new = items if run == "first" else 0
                    if row["new"] != want_new:
                        problems.append(f"monitor {run}: {row['new']} new, not {want_new}")
                    if run == "first" and not row["alerts"]:
                        problems.append("monitor first: no alert in alerts.jsonl")
                else:
                    total = len(mailbox.Maildir(maildir, create=False)) if maildir.exists() else 0
                    row["new"], messages = total - messages, total
                    errors = [ln for ln in text.splitlines() if "[ERROR]" in ln]
                    want_new = items if run == "first" else 0
                    if row["new"] != want_new:
                        problems.append(f"rss2email {run}: {row['new']} messages, not {want_new}")
                if errors:
                    problems.append(f"{tool} {run}: {len(errors)} errors logged, e.g. {errors[0]}")
                rows[tool, run] = row
                print(
                    f"  {tool:<9} {run:<5} {row['wall']:7.2f} s wall {row['cpu']:7.2f} s CPU "
                    f"{row['rss']:6.0f} MiB  new {row['new']}",
                    file=sys.stderr,
                    flush=True,
                )
        if keep is not None:
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
    return rows, problems


# --- the driver ------------------------------------------------------------------------------


def _cell(figures: dict[str, float]) -> str:
    return f"{figures['wall']:7.2f} {figures['cpu']:7.2f} {figures['rss']:6.0f}"


def print_table(medians: dict[tuple[str, str], dict[str, float]], feeds: int, repeat: int) -> None:
    head = (
        f"{'run':<8} | {'monitor wall s':>14} {'CPU s':>7} {'RSS MiB':>7} |"
        f" {'rss2email wall s':>16} {'CPU s':>7} {'RSS MiB':>7} | {'ratio':>6} {'CPU ratio':>9}"
    )
    print(head)
    print("-" * len(head))
    for run in RUNS:
        mon, r2e = medians["monitor", run], medians["rss2email", run]
        print(
            f"{run:<8} | {mon['wall']:14.2f} {mon['cpu']:7.2f} {mon['rss']:7.0f} |"
            f" {r2e['wall']:16.2f} {r2e['cpu']:7.2f} {r2e['rss']:7.0f} |"
            f" {r2e['wall'] / mon['wall']:5.2f}× {r2e['cpu'] / max(mon['cpu'], 1e-9):8.2f}×"
        )
    how = "/usr/bin/time" if Path(TIME).exists() else "os.wait4 rusage"
    print(
        f"{'median of ' + str(repeat) if repeat > 1 else 'one run'} per cell; {feeds} feeds × "
        f"{poll.ITEMS_PER_FEED} items. ratio = rss2email wall / monitor wall (> 1: monitor "
        f'faster), CPU ratio likewise. first: monitor `run --once` with first_poll = "alert" '
        f"(jsonl) vs rss2email {RSS2EMAIL}'s first run into a Maildir; 304: both again, every "
        f"feed answering 304. Each a whole process ({how}): CPU = user+sys including waited-for "
        f"children (monitor's parsing workers), RSS = the largest single process."
    )


def print_paired(samples: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    """The ratio within each repetition (both tools run back to back, on the same machine
    state), then their median: on a machine whose speed drifts between repetitions, the
    median of per-cell medians can pair a fast monitor run with a slow rss2email run."""
    for run in RUNS:
        ratios = [
            r2e["wall"] / mon["wall"]
            for mon, r2e in zip(samples["monitor", run], samples["rss2email", run], strict=True)
        ]
        listed = " ".join(f"{r:.2f}×" for r in ratios)
        print(f"{run:<8} per repetition: {listed}; median {statistics.median(ratios):.2f}×")


def compare(args: argparse.Namespace) -> int:
    if args.versus != "rss2email":
        raise SystemExit(f"--versus: only rss2email is known, not {args.versus!r}")
    r2e = rss2email_venv()
    compile_monitor()
    server = poll.Server(args.feeds, args.hosts, args.port, args.gzip)
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    failed: list[str] = []
    try:
        size = server.control()["bytes"] / args.feeds / 1024
        print(
            f"{args.feeds} feeds × {poll.ITEMS_PER_FEED} items, {size:.1f} KiB each, over "
            f"{args.hosts} loopback hosts; {os.cpu_count()} CPUs; Python "
            f"{sys.version.split()[0]}; rss2email {RSS2EMAIL}"
        )
        urls = [poll.feed_url(i, args.hosts, args.port) for i in range(args.feeds)]
        for index in range(args.repeat):
            print(f"repetition {index + 1}/{args.repeat}", file=sys.stderr, flush=True)
            keep = None
            if args.keep_state:
                keep = poll.ROOT / "var" / f"bench-versus-{index + 1}"
            rows, problems = repetition(server, urls, r2e, keep)
            failed += [f"repetition {index + 1}: {p}" for p in problems]
            for key, row in rows.items():
                samples.setdefault(key, []).append(row)
    finally:
        server.close()
    medians = {
        key: {f: statistics.median(r[f] for r in rows) for f in ("wall", "cpu", "rss")}
        for key, rows in samples.items()
    }
    print_table(medians, args.feeds, args.repeat)
    if args.repeat > 1:
        print_paired(samples)
    seen = {key: sorted({r["new"] for r in rows}) for key, rows in samples.items()}
    alerts = sorted({r["alerts"] for r in samples["monitor", "first"]})
    print(
        f"items served: {args.feeds * poll.ITEMS_PER_FEED}; first run: monitor stored "
        f"{seen['monitor', 'first']} articles and wrote {alerts} alert lines (jsonl), rss2email "
        f"mailed {seen['rss2email', 'first']} messages (Maildir); 304 run: new articles "
        f"{seen['monitor', '304']}, new messages {seen['rss2email', '304']}; server: "
        f"{args.feeds} × 200 then {args.feeds} × 304 for each tool"
        + ("" if any("server statuses" in p for p in failed) else " (checked)")
    )
    for problem in failed:
        print(f"CHECK FAILED: {problem}")
    return 1 if failed else 0
