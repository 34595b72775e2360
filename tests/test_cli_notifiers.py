"""`monitor notifiers …` and `monitor alerts …` on a real config and SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import respx

from monitor.cli import main
from monitor.pipeline import delivery_id
from tests.notifiers.test_webhook import SECRET


def run(workdir: Path, *args: str) -> int:
    return main(["--config", str(workdir / "monitor.toml"), *args])


@pytest.fixture
def hook_config(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    config = workdir / "monitor.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[[notifiers]]\nname = "hook"\ntype = "webhook"\n'
        'url = "https://hooks.example.org/in?token=abc"\nsecret = { env = "HOOK_SECRET" }\n'
        'digest = "1h"\n',
        encoding="utf-8",
    )
    return workdir


def test_notifiers_list(hook_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(hook_config, "db", "upgrade") == 0  # a listing never migrates (cli/common.py)
    capsys.readouterr()
    assert run(hook_config, "notifiers", "list") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["NAME", "TYPE", "TARGET", "STATE"]
    assert "archive  jsonl" in out and "hook     webhook  https://hooks.example.org/…" in out
    assert "enabled (digest every 1h)" in out and "abc" not in out and SECRET not in out


@respx.mock
def test_notifiers_test_success_and_exact_failure(
    hook_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    route = respx.post("https://hooks.example.org/in?token=abc").respond(204)
    assert run(hook_config, "notifiers", "test", "hook") == 0
    assert "ok: sample alert sent through hook (webhook)" in capsys.readouterr().out
    request = route.calls.last.request
    alert = request.read().decode()
    assert '"type":"alert.created"' in alert
    assert request.headers["webhook-id"].startswith("msg_")
    route.respond(403, text="forbidden: bad token")
    assert run(hook_config, "notifiers", "test", "hook") == 1
    out = capsys.readouterr().out
    assert "FAILED hook (webhook): HTTP 403: 'forbidden: bad token' [permanent]" in out
    assert run(hook_config, "notifiers", "test", "nope") == 2


def test_notifiers_test_jsonl_writes_the_sample(workdir: Path) -> None:
    assert run(workdir, "notifiers", "test", "archive") == 0
    line = (workdir / "var" / "alerts.jsonl").read_text(encoding="utf-8")
    assert "monitor-test" in line


def test_alerts_list_retry_and_enable(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    copy_seeds: Callable[[Path], list[Path]],
) -> None:
    copy_seeds(workdir / "inbox")
    (workdir / "var").mkdir()
    (workdir / "var" / "alerts.jsonl").mkdir()  # a folder: every append fails
    config = workdir / "monitor.toml"
    config.write_text(config.read_text() + "\n[delivery]\nretry_schedule = []\n")
    assert run(workdir, "run", "--once") == 1  # every delivery dead after one attempt
    capsys.readouterr()
    assert run(workdir, "alerts", "list", "--dead") == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("msg_")]
    assert rows and all(" dead " in ln and "cannot append" in ln for ln in rows)
    first = rows[0].split()[0]

    assert run(workdir, "alerts", "retry", first) == 0
    assert f"requeued {first}" in capsys.readouterr().out
    assert run(workdir, "alerts", "list") == 0
    assert any(
        ln.startswith(first) and " pending " in ln for ln in capsys.readouterr().out.splitlines()
    )
    assert run(workdir, "alerts", "retry", "msg_doesnotexist") == 1

    (workdir / "var" / "alerts.jsonl").rmdir()
    assert run(workdir, "alerts", "retry", "--all-dead") == 0
    capsys.readouterr()
    assert run(workdir, "run", "--once") == 0
    assert run(workdir, "alerts", "list") == 0
    assert capsys.readouterr().out.strip().endswith("0 deliveries")
    lines = (workdir / "var" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows)

    assert run(workdir, "notifiers", "enable", "archive") == 0
    assert "archive was not disabled" in capsys.readouterr().out


def test_sample_delivery_id_is_derived_as_usual() -> None:
    from datetime import UTC, datetime

    from monitor.usecases import sample_delivery

    d = sample_delivery("hook", datetime(2026, 1, 1, tzinfo=UTC))
    assert d.id == delivery_id(d.alert.id, "hook")
