"""What a start costs: the modules a process imports before its first poll. Each check runs in
a fresh interpreter (this one has imported everything already) and names what it must not load:
Alembic when the database is at head, bs4 and numpy until something is extracted and signed,
and the command modules' heavy imports until their command runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from monitor.store import Store

# Not needed before the first extraction (bs4), the first near-duplicate signature (numpy),
# or while the database is at head (Alembic).
HEAVY = ("alembic", "bs4", "numpy")
# The matcher's query language: the run path needs it (config, match), `import monitor.cli`
# does not (only `explain` and the web API do).
QUERY = ("monitor.evaluate", "monitor.query")


def imported_after(code: str, cwd: Path | None = None, heavy: tuple[str, ...] = HEAVY) -> set[str]:
    """The names of `heavy` that a fresh interpreter has in sys.modules after running `code`."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout.splitlines()[-1])
    return {name for name in heavy if name in modules}


def test_importing_the_cli_loads_no_command_s_heavy_module() -> None:
    assert imported_after("import monitor.cli", heavy=HEAVY + QUERY) == set()


def test_importing_the_app_and_the_cli_loads_no_heavy_module() -> None:
    code = "import monitor.cli, monitor.app, monitor.pipeline, monitor.sources.feed"
    assert imported_after(code) == set()


def test_run_once_on_a_database_at_head_imports_neither_alembic_nor_bs4(workdir: Path) -> None:
    store = Store.open(f"sqlite:///{workdir}/var/monitor.db")
    store.upgrade()
    store.close()
    code = (
        "from monitor.cli import main\n"
        f"assert main(['--config', {str(workdir / 'monitor.toml')!r}, 'run', '--once']) == 0"
    )
    assert imported_after(code, cwd=workdir) == set()


def test_run_imports_the_transport_in_a_thread_beside_the_main_thread_s_imports() -> None:
    """`monitor run` starts aiohttp's import (two TLS contexts, the CA bundle read twice) in a
    thread while the main thread imports the app: both finish, neither waits on the other."""
    code = (
        "import threading\n"
        "from monitor.sources.http import preload_transport\n"
        "preload_transport()\n"
        "import monitor.app, monitor.config, monitor.cli.run\n"
        "[t.join(60) for t in threading.enumerate() if t.name == 'preload-transport']\n"
    )
    loaded = ("aiohttp", "monitor.sources.transport", "monitor.app")
    assert imported_after(code, heavy=loaded + HEAVY) == set(loaded)


def test_an_empty_database_is_still_migrated_through_alembic(workdir: Path) -> None:
    code = (
        "from monitor.cli import main\n"
        f"assert main(['--config', {str(workdir / 'monitor.toml')!r}, 'run', '--once']) == 0"
    )
    assert "alembic" in imported_after(code, cwd=workdir)
    store = Store.open(f"sqlite:///{workdir}/var/monitor.db")
    assert store.migration_status()[0] is not None
    store.close()


def test_the_built_in_plugins_are_the_ones_pyproject_registers() -> None:
    """Built-ins are looked up without scanning entry points; the table must say what
    pyproject.toml registers, or a third-party tool listing our entry points sees others."""
    import tomllib

    from monitor.plugins import BUILT_IN

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"] == BUILT_IN


def test_loading_a_config_scans_no_installed_distribution(workdir: Path) -> None:
    code = (
        "import importlib.metadata as m\n"
        "def refuse(*a, **k): raise AssertionError('entry points scanned')\n"
        "m.entry_points = refuse\n"
        "from monitor.config import load_config\n"
        f"load_config(__import__('pathlib').Path({str(workdir / 'monitor.toml')!r}))\n"
    )
    imported_after(code, cwd=workdir)
