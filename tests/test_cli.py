"""The command line: exit codes, output, and that it writes nothing where it must not."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.cli import main


def run(workdir: Path, *args: str) -> int:
    return main(["--config", str(workdir / "monitor.toml"), *args])


def test_run_once_then_nothing_new(
    workdir: Path, copy_seeds: Callable[[Path], list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    copy_seeds(workdir / "inbox")
    assert run(workdir, "run", "--once") == 0
    first = capsys.readouterr()
    assert "new=5" in first.err
    lines = (workdir / "var" / "alerts.jsonl").read_text().splitlines()
    assert run(workdir, "run", "--once") == 0
    assert "new=0" in capsys.readouterr().err
    assert (workdir / "var" / "alerts.jsonl").read_text().splitlines() == lines


def test_console_notifier_prints_alerts(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text() + '\n[[notifiers]]\nname = "console"\ntype = "console"\n')
    (workdir / "inbox" / "a.txt").write_text(
        "普丁訪問北韓\x1b[31m，會見金正恩。" * 3, encoding="utf-8"
    )
    assert run(workdir, "run", "--once") == 0
    out = capsys.readouterr().out
    assert "== Putin [putin]" in out and "found: 普丁" in out
    assert "\x1b" not in out  # terminal escapes from articles never reach the console


def test_bad_config_exits_2_and_lists_problems(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "monitor.toml").write_text("database = 1\nbogus = true\n")
    assert run(workdir, "check") == 2
    err = capsys.readouterr().err
    assert "configuration invalid (2 problems)" in err
    assert "monitor.toml:1: [database]" in err and "monitor.toml:2: [bogus] unknown key" in err
    assert not (workdir / "var").exists()  # nothing half-started


def test_check_prints_a_summary_and_warnings(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (workdir / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[topics]]\nid = "nuke"\nany = ["核"]\n')
    assert run(workdir, "check") == 0
    out = capsys.readouterr().out
    assert "7 topics" in out and "folder     inbox" in out and "notifier   archive (jsonl)" in out
    assert "one-character term '核'" in out


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "[::]:9464"])
def test_check_warns_of_a_wildcard_listen_without_public_url(
    workdir: Path, capsys: pytest.CaptureFixture[str], listen: str
) -> None:
    """The Atom feeds' absolute links come from public_url, else the listen address: a
    wildcard one would send readers to 0.0.0.0."""
    toml = workdir / "monitor.toml"
    base = toml.read_text()
    toml.write_text(base + f'\n[http]\nlisten = "{listen}"\n')
    assert run(workdir, "check") == 0
    out = capsys.readouterr().out
    shown = listen.rsplit(":", 1)[0]
    assert (
        f"warning    [http] listen = '{listen}' is a wildcard address and [http] public_url is "
        f"not set: the feeds' absolute links would point at http://{shown}:9464" in out
    ), out
    toml.write_text(base + f'\n[http]\nlisten = "{listen}"\npublic_url = "https://m.example"\n')
    assert run(workdir, "check") == 0
    assert "is a wildcard address" not in capsys.readouterr().out
    toml.write_text(base + '\n[http]\nlisten = "127.0.0.1:9464"\n')
    assert run(workdir, "check") == 0
    assert "is a wildcard address" not in capsys.readouterr().out


def test_explain_json_writes_nothing(
    workdir: Path, copy_seeds: Callable[[Path], list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    paths = copy_seeds(workdir / "inbox")
    assert run(workdir, "explain", "--json", str(paths[4]), str(paths[2])) == 0
    result = json.loads(capsys.readouterr().out)
    by_topic = {t["id"]: t for t in result[0]["topics"]}
    assert by_topic["putin"]["matched"] is True
    assert by_topic["putin"]["any"][0]["hits"][0]["found"] == "普丁"
    assert by_topic["taiwan"]["matched"] is False
    assert result[0]["article"]["content_hash"].startswith("v1:")
    taiwan_on_002 = {t["id"]: t for t in result[1]["topics"]}["taiwan"]
    assert taiwan_on_002["matched"] is False  # end markers of the configured folder applied
    assert not (workdir / "var").exists()


def test_explain_text_shows_reasons(workdir: Path, copy_seeds: Callable[[Path], list[Path]],
                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    paths = copy_seeds(workdir / "inbox")
    assert run(workdir, "explain", "--no-color", str(paths[0])) == 0
    out = capsys.readouterr().out
    assert "✔ china-russia-arms" in out and "✘ taiwan" in out and "no hit among any terms" in out
    assert "\x1b[" not in out


def test_explain_with_another_watchlist_and_a_bad_file(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[[topics]]\nid = "kim"\nany = ["金正恩"]\n', encoding="utf-8")
    good = workdir / "inbox" / "a.txt"
    good.write_text("金正恩與普丁會談。" * 5, encoding="utf-8")
    assert run(workdir, "explain", "--json", "--watchlist", str(other), str(good),
               str(workdir / "missing.txt")) == 1  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in result[0]["topics"]] == ["kim"]
    assert "no such file" in result[1]["error"]


def test_db_upgrade_and_status(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(workdir, "db", "status") == 0
    assert "revision none" in capsys.readouterr().out
    assert run(workdir, "db", "upgrade") == 0
    assert "upgraded from empty to 0012" in capsys.readouterr().out
    assert run(workdir, "db", "upgrade") == 0
    assert "up to date" in capsys.readouterr().out


def test_a_failed_source_exits_1(workdir: Path) -> None:
    (workdir / "inbox").rmdir()
    assert run(workdir, "run", "--once") == 1


def test_the_command_s_quick_exit_keeps_its_output_and_exit_status(
    workdir: Path, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    """`python -m monitor` (as the console script) exits without the interpreter's teardown:
    every alert printed to a pipe (block-buffered) still arrives, every log line too, and the
    exit status is `main`'s."""
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text() + '\n[[notifiers]]\nname = "console"\ntype = "console"\n')
    copy_seeds(workdir / "inbox")
    command = [sys.executable, "-m", "monitor", "--config", str(toml), "run", "--once"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    alerts = (workdir / "var" / "alerts.jsonl").read_text().splitlines()
    assert len(alerts) > 5
    assert done.stdout.count("\n== ") + done.stdout.startswith("== ") == len(alerts)
    assert (
        done.stderr.rstrip()
        .splitlines()[-1]
        .split(" INFO monitor ")[1]
        .startswith("pass done new=5")
    )
    (workdir / "inbox").rename(workdir / "gone")
    failed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert failed.returncode == 1, failed.stderr


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2


def test_db_prune_and_vacuum(
    workdir: Path, copy_seeds: Callable[[Path], list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    copy_seeds(workdir / "inbox")
    assert run(workdir, "run", "--once") == 0
    capsys.readouterr()
    assert run(workdir, "db", "prune") == 0
    out = capsys.readouterr().out
    assert "nothing to prune" in out  # [retention] keeps everything; the window still counts:
    assert "deleted 0 near-duplicate index rows of story roots older than [dedupe] window" in out
    assert run(workdir, "db", "prune", "--article-text", "5") == 2
    assert "--article-text: invalid duration" in capsys.readouterr().err
    assert run(workdir, "db", "prune", "--article-text", "0s", "--deliveries", "0s") == 0
    out = capsys.readouterr().out
    assert "blanked the text of 5 articles; deleted 17 sent deliveries" in out
    assert run(workdir, "db", "vacuum") == 0
    assert "database size" in capsys.readouterr().out
    (workdir / "inbox" / "again.txt").write_bytes(
        sorted((workdir / "inbox").glob("0*.txt"))[0].read_bytes()
    )
    assert run(workdir, "run", "--once") == 0  # a pruned article is still a duplicate
    assert "new=0 duplicates=1" in capsys.readouterr().err


def test_status_shows_each_instance_and_its_last_reload(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.app import utc_now
    from monitor.store import Store

    assert run(workdir, "db", "upgrade") == 0
    store = Store.open(f"sqlite:///{workdir}/var/monitor.db")
    store.record_instance("worker-1", utc_now(), started=True)
    store.record_instance("worker-1", utc_now(), reload_result="rejected: watchlist.toml:3: x")
    store.close()
    capsys.readouterr()
    assert run(workdir, "status") == 0
    out = capsys.readouterr().out
    assert "last reload" in out
    assert "worker-1" in out and "rejected: watchlist.toml:3: x (0s ago)" in out


def test_explain_shows_regex_hits_and_check_warns_about_empty_matches(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (workdir / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[topics]]\nid = "drones"\nregex = ["\\\\d+\\\\s?架無人機"]\n'
                '\n[[topics]]\nid = "loose"\nregex = ["(無人機)?"]\nsources = ["inbox"]\n')  # fmt: skip
    good = workdir / "inbox" / "a.txt"
    good.write_text("俄軍發射了３０架無人機。" * 5, encoding="utf-8")
    assert run(workdir, "explain", "--no-color", str(good)) == 0
    out = capsys.readouterr().out
    assert "✔ drones" in out and "regex: \\d+\\s?架無人機 → ３０架無人機 (title)" in out
    assert run(workdir, "explain", "--json", str(good)) == 0
    drones = {t["id"]: t for t in json.loads(capsys.readouterr().out)[0]["topics"]}["drones"]
    assert drones["regex"][0]["hits"][1] == {"field": "text", "found": "３０架無人機", "offset": 5}
    assert run(workdir, "check") == 0
    out = capsys.readouterr().out
    assert "topic loose: regex '(無人機)?' can match the empty string" in out
    assert "topic drones" not in out


GLOBAL_OPTIONS = [
    ("--config", "c.toml", "config", Path("c.toml")),
    ("--instance", "worker-2", "instance", "worker-2"),
    ("--log-level", "debug", "log_level", "debug"),
    ("--log-format", "json", "log_format", "json"),
]


@pytest.mark.parametrize("command", [("run",), ("feeds", "list"), ("db", "status")], ids=" ".join)
@pytest.mark.parametrize("option", GLOBAL_OPTIONS, ids=lambda o: o[0])
def test_global_options_before_or_after_the_command(
    option: tuple[str, str, str, object], command: tuple[str, ...]
) -> None:
    from monitor.cli import build_parser

    flag, value, dest, expected = option
    before = build_parser().parse_args([flag, value, *command])
    after = build_parser().parse_args([*command, flag, value])
    assert getattr(before, dest) == getattr(after, dest) == expected
    # Given on both sides, the one after the command wins; given before only, it is kept.
    other = {"--config": "d.toml", "--instance": "w9", "--log-level": "error"}.get(flag, "text")
    both = build_parser().parse_args([flag, other, *command, flag, value])
    assert getattr(both, dest) == expected
    defaults = build_parser().parse_args(list(command))
    assert defaults.config is None and defaults.instance is None
    assert defaults.log_level is None and defaults.log_format == "text"


def test_global_options_after_the_command_take_effect(
    workdir: Path, copy_seeds: Callable[[Path], list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    copy_seeds(workdir / "inbox")
    config = str(workdir / "monitor.toml")
    assert main(["run", "--once", "--config", config, "--log-format", "json",
                 "--log-level", "warning", "--instance", "worker-2"]) == 0  # fmt: skip
    assert capsys.readouterr().err == ""  # warning level: the INFO lines are not logged
    assert main(["run", "--once", "--config", config, "--log-format", "json"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(json.loads(line)["level"] for line in lines)
    assert main(["check", "--config", config]) == 0
    assert f"config     {config}" in capsys.readouterr().out
