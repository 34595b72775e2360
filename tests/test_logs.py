"""Log formats: text, JSON with the key=value pairs as fields, and the journald form."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.logs import (
    JsonFormatter,
    TextFormatter,
    make_formatter,
    parse_pairs,
    priority,
    stderr_is_journal,
)


def record(message: str, *args: object, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("monitor.app", level, __file__, 1, message, args, None)


def test_parse_pairs_types_and_unquotes() -> None:
    event, fields = parse_pairs(
        "polled feed=dw-zh status=304 new=0 ms=41 reason='HTTP 500: it\\'s down' url=http://x/?a=b"
    )
    assert event == "polled"
    assert fields == {"feed": "dw-zh", "status": 304, "new": 0, "ms": 41,
                      "reason": "HTTP 500: it's down", "url": "http://x/?a=b"}  # fmt: skip
    assert parse_pairs("started") == ("started", {})
    assert parse_pairs('reload rejected problem="a = b" x=1 x=2')[1] == {"problem": "a = b", "x": 1}


def test_json_lines_carry_time_level_logger_message_and_fields() -> None:
    line = JsonFormatter().format(
        record("delivery failed notifier=%s attempt=%d reason=%r", "ops", 2, "超時", level=40)
    )
    data = json.loads(line)
    assert data["level"] == "ERROR" and data["logger"] == "monitor.app"
    assert data["message"] == "delivery failed notifier=ops attempt=2 reason='超時'"
    assert (data["event"], data["notifier"], data["attempt"], data["reason"]) == (
        "delivery failed", "ops", 2, "超時",
    )  # fmt: skip
    assert data["time"].endswith("Z") and "T" in data["time"]
    assert "\n" not in line


def test_json_keeps_reserved_names_and_adds_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord(
            "monitor.delivery", 40, __file__, 1, "crashed level=x", (), sys.exc_info()
        )
    data = json.loads(JsonFormatter().format(rec))
    assert data["level"] == "ERROR"  # a pair named like a field does not replace it
    assert "ValueError: boom" in data["exception"]


@pytest.mark.parametrize(
    ("level", "expected"),
    [(logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3),
     (logging.CRITICAL, 2)],
)  # fmt: skip
def test_priorities(level: int, expected: int) -> None:
    assert priority(level) == expected


def test_journal_text_has_priority_on_every_line_and_no_timestamp() -> None:
    plain = TextFormatter().format(record("polled feed=%s", "dw"))
    assert plain.endswith("Z INFO monitor.app polled feed=dw")
    rec = record("notifier crashed notifier=%s", "ops", level=logging.ERROR)
    rec.exc_info = (ValueError, ValueError("boom"), None)
    lines = TextFormatter(journal=True).format(rec).splitlines()
    assert lines[0] == "<3>ERROR monitor.app notifier crashed notifier=ops"
    assert len(lines) > 1 and all(line.startswith("<3>") for line in lines)


def test_stderr_is_the_journal_only_when_journal_stream_names_it(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as stream:
        info = os.fstat(stream.fileno())
        mine = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        assert stderr_is_journal(mine, stream.fileno()) is True
        assert stderr_is_journal({"JOURNAL_STREAM": "1:2"}, stream.fileno()) is False
        assert stderr_is_journal({"JOURNAL_STREAM": "junk"}, stream.fileno()) is False
        assert stderr_is_journal({}, stream.fileno()) is False
        text = make_formatter("text", environ=mine, fd=stream.fileno())
        assert text.format(record("started")) == "<6>INFO monitor.app started"
        as_json = make_formatter("json", environ=mine, fd=stream.fileno())
        assert as_json.format(record("started")).startswith('<6>{"time": ')


def test_cli_log_format_json(
    workdir: Path, copy_seeds: Callable[[Path], list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    copy_seeds(workdir / "inbox")
    config = str(workdir / "monitor.toml")
    assert main(["--config", config, "--log-format", "json", "run", "--once"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    done = next(line for line in lines if line["event"] == "pass done")
    assert (done["new"], done["failed_sources"], done["logger"]) == (5, "-", "monitor")
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
