"""The unit files in systemd/: hardened (exposure ≤ 2.0) and clean for `systemd-analyze verify`.

RELIABILITY.md SD-1 / G10. Needs only the systemd-analyze binary, not a running systemd.
`verify` checks that ExecStart= is executable, so the units are rendered into tmp_path with
ExecStart= pointing at this venv's `monitor` script. `verify` and `security` exit 0 on parse
warnings (unknown keys, bad values), so their output about the unit must also be empty.
(`verify --root=DIR` is no substitute: it resolves sysinit.target and /bin/kill under DIR too.)
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.config import load_config
from tests.conftest import SEEDS

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_UNIT = ROOT / "systemd" / "monitor.service"
SERVICE_CONFIG = ROOT / "systemd" / "monitor.toml"  # `make install` puts it in /etc/monitor
USER_UNIT = ROOT / "systemd" / "monitor-user.service"
SYSTEM_EXEC = "/opt/monitor/venv/bin/monitor"
USER_EXEC = "%h/.local/share/monitor/venv/bin/monitor"
MAX_EXPOSURE = 2.0  # RELIABILITY.md G10
# A user manager cannot drop capabilities or build namespaces without user namespaces, so
# user units score badly by design (systemd #21232); this only guards against regressions.
MAX_USER_EXPOSURE = 7.0

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (Debian: apt install systemd)"
)
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")


def analyze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {}), "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": ""},
        check=False,
    )


def monitor_executable() -> str:
    script = Path(sys.executable).parent / "monitor"
    return str(script) if os.access(script, os.X_OK) else sys.executable


def render(unit: Path, placeholder: str, directory: Path) -> Path:
    """Copy `unit` into `directory` with its ExecStart= binary replaced by one that exists."""
    text = unit.read_text(encoding="utf-8")
    assert f"ExecStart={placeholder} " in text
    target = directory / unit.name
    target.write_text(text.replace(placeholder, monitor_executable()), encoding="utf-8")
    return target


def about(unit: Path, output: str) -> list[str]:
    """The lines of systemd-analyze's output that are about `unit` (warnings, errors)."""
    return [line for line in output.splitlines() if unit.name in line and "exposure" not in line]


def exposure(unit: Path, *args: str, env: dict[str, str] | None = None) -> float:
    result = analyze(*args, "security", "--offline=true", str(unit), env=env)
    found = EXPOSURE.search(result.stdout)
    assert found, result.stdout + result.stderr
    assert about(unit, result.stderr) == [], result.stderr
    return float(found.group(1))


@needs_systemd_analyze
def test_system_unit_exposure_is_at_most_2() -> None:
    result = analyze(
        "security", "--offline=true", "--threshold=20", str(SYSTEM_UNIT)
    )  # the exact command of README.md and RELIABILITY.md SD-1
    assert result.returncode == 0, result.stdout + result.stderr
    assert exposure(SYSTEM_UNIT) <= MAX_EXPOSURE


@needs_systemd_analyze
def test_system_unit_verifies_cleanly(tmp_path: Path) -> None:
    unit = render(SYSTEM_UNIT, SYSTEM_EXEC, tmp_path)
    result = analyze("verify", str(unit))
    assert result.returncode == 0, result.stderr
    assert about(unit, result.stdout + result.stderr) == []


@needs_systemd_analyze
def test_verify_catches_a_missing_executable() -> None:
    # The unpatched unit names /opt/monitor/…, absent here: proves verify looks at ExecStart=.
    if os.access(SYSTEM_EXEC, os.X_OK):
        pytest.skip(f"{SYSTEM_EXEC} is installed on this machine")
    result = analyze("verify", str(SYSTEM_UNIT))
    assert result.returncode != 0
    assert "is not executable" in result.stderr


@needs_systemd_analyze
def test_verify_reports_an_unknown_key(tmp_path: Path) -> None:
    # verify exits 0 on an unknown key, hence the checks on its output above.
    unit = render(SYSTEM_UNIT, SYSTEM_EXEC, tmp_path)
    unit.write_text(unit.read_text().replace("ProtectClock=", "ProtectClok="), encoding="utf-8")
    result = analyze("verify", str(unit))
    assert any("ProtectClok" in line for line in about(unit, result.stderr)), result.stderr


@pytest.mark.parametrize(
    "setting",
    ["Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "TimeoutStopSec=30s",
     "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "DynamicUser=yes",
     "StateDirectory=monitor", "ConfigurationDirectory=monitor", "UMask=0077",
     "--config ${CONFIGURATION_DIRECTORY}/monitor.toml run"],
)  # fmt: skip
def test_both_units_are_notify_services_with_a_watchdog(setting: str) -> None:
    assert setting in SYSTEM_UNIT.read_text(encoding="utf-8")
    if setting != "DynamicUser=yes":  # a user manager runs everything as you
        assert setting in USER_UNIT.read_text(encoding="utf-8")


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    # `--user` builds a user manager, which needs a runtime directory even offline.
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return {"XDG_RUNTIME_DIR": str(runtime)}


@needs_systemd_analyze
def test_user_unit_verifies_cleanly(tmp_path: Path, user_env: dict[str, str]) -> None:
    unit = render(USER_UNIT, USER_EXEC, tmp_path)
    result = analyze("--user", "verify", str(unit), env=user_env)
    assert result.returncode == 0, result.stderr
    assert about(unit, result.stdout + result.stderr) == []


@needs_systemd_analyze
def test_user_unit_exposure(user_env: dict[str, str]) -> None:
    assert exposure(USER_UNIT, "--user", env=user_env) <= MAX_USER_EXPOSURE


def test_the_service_config_is_valid(tmp_path: Path) -> None:
    shutil.copy(SERVICE_CONFIG, tmp_path / "monitor.toml")
    shutil.copy(ROOT / "config" / "watchlist.toml", tmp_path / "watchlist.toml")
    settings = load_config(tmp_path / "monitor.toml", env={})
    assert settings.database == "sqlite:////var/lib/monitor/monitor.db"
    assert "MONITOR_DATABASE_URL=" + settings.database in SYSTEM_UNIT.read_text(encoding="utf-8")


# The kernel's own form of MemoryDenyWriteExecute= (Linux ≥ 6.3): PR_SET_MDWE with
# PR_MDWE_REFUSE_EXEC_GAIN refuses any mapping that is, or becomes, writable and executable,
# and is inherited by the parse workers, as systemd's seccomp filter is.
_UNDER_MDWE = """
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    print("no PR_SET_MDWE here, errno", ctypes.get_errno())
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("a writable and executable mapping was allowed: the guard is not on")
except OSError:
    pass
from monitor.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_every_native_library_runs_without_writable_executable_memory(
    workdir: Path, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    """The units set MemoryDenyWriteExecute=yes: a library that JIT-compiles or needs an
    executable stack would fail at import or first use under it. A whole `run --once` on
    the seeds runs under the same rule: every native part is used (aiohttp and
    SQLAlchemy's SQLite, lxml and bs4, OpenCC's tables in the Aho-Corasick matcher, RE2,
    numpy for the near-duplicate signatures in the parse workers)."""
    copy_seeds(workdir / "inbox")
    config = str(workdir / "monitor.toml")
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_MDWE, "--config", config, "run", "--once"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode == 77:
        pytest.skip(f"the kernel has no PR_SET_MDWE (Linux ≥ 6.3): {done.stdout.strip()}")
    assert done.returncode == 0, done.stderr[-3000:]
    with sqlite3.connect(workdir / "var" / "monitor.db") as db:
        stored, signed = db.execute("SELECT count(*), count(signature) FROM articles").fetchone()
    assert stored == len(list(SEEDS.glob("*.txt")))
    assert signed == stored  # the parse workers imported numpy and signed under the rule
