"""TOML files → typed settings: `monitor.toml` and the watchlist, validated whole before use.

Every problem is collected and reported at once with file, key path and line. Each key is
declared once (`keys`); plugin options are declared by the plugin's constructor (`options`).
Secrets are references (`{ env = … }`, `{ file = … }`, `{ credential = … }`), resolved here.

Modules: `toml` (reading, problems, lines), `values` (durations, sizes, instants, secrets),
`keys` (the `Key` declaration and the tables without a settings class), `options` (plugin
options), `sources` (`[[sources]]`, `[[feeds]]`, `[[folders]]`), `settings` (`monitor.toml`),
`watchlist` (the watchlist file).
"""

from monitor.config.keys import TERM_KEYS, TOP_LEVEL_KEYS, TOPIC_KEYS, WATCHLIST_KEYS, Key, keys_of
from monitor.config.options import SECRET_OPTIONS, plugin_options
from monitor.config.settings import (
    DEFAULT_CONFIG,
    DEFAULT_RETRY_SCHEDULE,
    NOTIFIER_KEYS,
    SETTINGS_TABLES,
    DaemonSettings,
    DedupeSettings,
    DefaultsSettings,
    DeliverySettings,
    FetchSettings,
    HttpSettings,
    NotifierSettings,
    RetentionSettings,
    Settings,
    load_config,
)
from monitor.config.sources import (
    DATABASE_FEED_KEYS,
    LIFECYCLE_KEYS,
    SOURCE_TABLES,
    FeedSettings,
    FolderSettings,
    SourceSettings,
    feed_id_for,
    load_database_feed,
)
from monitor.config.values import Secret, parse_duration, parse_instant, parse_listen, parse_size
from monitor.config.watchlist import load_watchlist, watchlist_unwritable

__all__ = [
    "DATABASE_FEED_KEYS",
    "DEFAULT_CONFIG",
    "DEFAULT_RETRY_SCHEDULE",
    "LIFECYCLE_KEYS",
    "NOTIFIER_KEYS",
    "SECRET_OPTIONS",
    "SETTINGS_TABLES",
    "SOURCE_TABLES",
    "TERM_KEYS",
    "TOPIC_KEYS",
    "TOP_LEVEL_KEYS",
    "WATCHLIST_KEYS",
    "DaemonSettings",
    "DedupeSettings",
    "DefaultsSettings",
    "DeliverySettings",
    "FeedSettings",
    "FetchSettings",
    "FolderSettings",
    "HttpSettings",
    "Key",
    "NotifierSettings",
    "RetentionSettings",
    "Secret",
    "Settings",
    "SourceSettings",
    "feed_id_for",
    "keys_of",
    "load_config",
    "load_database_feed",
    "load_watchlist",
    "parse_duration",
    "parse_instant",
    "parse_listen",
    "parse_size",
    "plugin_options",
    "watchlist_unwritable",
]
