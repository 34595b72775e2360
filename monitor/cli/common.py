"""What every command shares: exit codes, the config file, and the one database policy
(`open_store`). It must not print tables or parse arguments: render.py and the command modules do.
"""

from __future__ import annotations

import argparse
import enum
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.store import Store

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2
# Where a source is defined, as `feeds list`, `feeds export` and `status` show it ("from").
FROM_CONFIG, FROM_DATABASE = "toml", "db"


def config_path(args: argparse.Namespace) -> Path:
    """`--config`, else `$MONITOR_CONFIG`, else config/monitor.toml (README, "Command line")."""
    path: Path | None = args.config
    return path or Path(os.environ.get("MONITOR_CONFIG", "config/monitor.toml"))


def load_settings(args: argparse.Namespace) -> Settings:
    """The validated config, checked against the database's feeds too; its `log_level`
    applies unless `--log-level` overrides it."""
    from monitor.config import load_config
    from monitor.store import peek_database_sources

    # The feeds kept in the database count as sources (topics may name them, a table may
    # not reuse their ids); reading them never creates or migrates the database.
    settings = load_config(config_path(args), database_sources=peek_database_sources)
    if args.log_level is None:
        logging.getLogger().setLevel(settings.log_level.upper())
    return settings


class Schema(enum.Enum):
    """What a command does with a database whose schema is not the newest this code knows.

    One policy for every command: only `run` migrates (the daemon and `run --once` are what an
    operator starts after an upgrade, and migrations run under the store's lock); every other
    command refuses and names `monitor db upgrade`, so a look (`status`, `alerts list`) or a
    small fix (`alerts retry`) never changes the schema behind the operator's back.
    """

    MIGRATE = "migrate"  # `run`: apply pending migrations first
    CURRENT = "current"  # everything else that reads or writes rows: refuse unless up to date
    UNCHECKED = "unchecked"  # `db status` and `db upgrade`: they report or change the schema


def open_store(settings: Settings, schema: Schema) -> Store:
    """The store of `settings` under the command's `schema` policy; the caller closes it.

    Raises `StoreError` (exit 1 in main) when the schema is not current and the policy is
    `CURRENT`; the database is left exactly as it was.
    """
    from monitor.errors import StoreError
    from monitor.store import Store

    store = Store.open(settings.database)
    try:
        if schema is Schema.MIGRATE:
            store.upgrade()
        elif schema is Schema.CURRENT:
            current, head = store.migration_status()
            if current != head:
                raise StoreError(
                    f"database schema is {current or 'empty'}, this monitor needs {head}: "
                    "run `monitor db upgrade` (or start the daemon once)"
                )
    except BaseException:
        store.close()
        raise
    return store
