"""Config and watchlist validation: every problem reported at once, with key path and line."""

from __future__ import annotations

import importlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Secret, load_config, load_watchlist, parse_duration, parse_size
from monitor.errors import ConfigError
from tests.conftest import MONITOR_TOML


def problems(error: pytest.ExceptionInfo[ConfigError]) -> list[tuple[str, int | None, str]]:
    return [(p.key, p.line, p.message) for p in error.value.problems]


def test_shipped_config_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    settings = load_config(root / "config" / "monitor.toml", env={})
    assert [f.id for f in settings.folders] == ["seeds"]
    assert [n.name for n in settings.notifiers] == ["console", "archive"]
    assert settings.database == "sqlite:///" + str(root / "var" / "monitor.db")
    topic_ids = {t.id for t in settings.watchlist.topics}
    assert {"china-russia-arms", "nuclear-arsenals", "russia-north-korea", "putin",
            "us-china-military-talks", "taiwan"} <= topic_ids  # fmt: skip


def test_relative_paths_resolve_against_the_config_folder(workdir: Path) -> None:
    settings = load_config(workdir / "monitor.toml", env={})
    assert settings.database == f"sqlite:///{workdir}/var/monitor.db"
    assert settings.folders[0].source.path == workdir / "inbox"  # type: ignore[attr-defined]
    assert settings.notifiers[0].notifier.path == workdir / "var/alerts.jsonl"  # type: ignore[attr-defined]


def test_database_env_overrides(workdir: Path) -> None:
    settings = load_config(
        workdir / "monitor.toml", env={"MONITOR_DATABASE_URL": "sqlite:////tmp/x.db"}
    )
    assert settings.database == "sqlite:////tmp/x.db"


def test_every_problem_is_reported_with_key_path_and_line(workdir: Path) -> None:
    (workdir / "monitor.toml").write_text(
        """\
database = "sqlite:///var/monitor.db"
wachlist = "watchlist.toml"

[[folders]]
id = "inbox"
path = "inbox"
interval = 30

[[folders]]
id = "Bad Id"
path = "x"

[[notifiers]]
name = "archive"
type = "jsonl"
paht = "x.jsonl"

[[notifiers]]
name = "pager"
type = "carrier-pigeon"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_config(workdir / "monitor.toml", env={})
    found = problems(error)
    assert ("wachlist", 2, "unknown key (did you mean 'watchlist'?)") in found
    assert any(k == "folders[0].interval" and line == 7 and "unit" in m for k, line, m in found)
    assert any(k == "folders[1].id" and line == 10 for k, line, _ in found)
    assert any(k == "notifiers[0].paht" and line == 16 and "'path'" in m for k, line, m in found)
    assert any(k == "notifiers[0].path" and "required" in m for k, _, m in found)
    assert any(k == "notifiers[1].type" and "carrier-pigeon" in m and "jsonl" in m
               for k, _, m in found)  # fmt: skip
    assert all(str(workdir / "monitor.toml") in str(p) for p in error.value.problems)


def test_toml_syntax_error_names_the_line(workdir: Path) -> None:
    (workdir / "monitor.toml").write_text('database = "x"\n[[folders]\nid = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(workdir / "monitor.toml", env={})
    (problem,) = error.value.problems
    assert problem.line == 2 and "TOML syntax" in problem.message


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError) as error:
        load_config("/nonexistent/monitor.toml", env={})
    assert "file not found" in str(error.value)


def test_secret_references(workdir: Path, tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("from-file\n")
    secret_file.chmod(0o600)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "db").write_text("from-credential")
    base = MONITOR_TOML.replace('database = "sqlite:///var/monitor.db"', "")
    for reference, env, expected in [
        ('{ env = "DB_URL" }', {"DB_URL": "sqlite:////tmp/env.db"}, "sqlite:////tmp/env.db"),
        (f'{{ file = "{secret_file}" }}', {}, None),
        ('{ credential = "db" }', {"CREDENTIALS_DIRECTORY": str(creds)}, None),
    ]:
        (workdir / "monitor.toml").write_text(f"database = {reference}\n{base}", encoding="utf-8")
        if expected is None:
            with pytest.raises(ConfigError) as error:  # not a URL, but it was resolved
                load_config(workdir / "monitor.toml", env=env)
            assert "SQLAlchemy URL" in str(error.value)
            assert "from-" not in str(error.value)  # the secret is never echoed
        else:
            assert load_config(workdir / "monitor.toml", env=env).database == expected


def test_unresolvable_secrets_are_errors(workdir: Path) -> None:
    base = MONITOR_TOML.replace('database = "sqlite:///var/monitor.db"', "")
    (workdir / "monitor.toml").write_text(
        f'database = {{ env = "NOPE" }}\n{base}', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as error:
        load_config(workdir / "monitor.toml", env={})
    assert problems(error)[0][:2] == ("database", 1)
    assert "NOPE is not set" in problems(error)[0][2]
    (workdir / "monitor.toml").write_text(
        f'database = {{ credential = "x" }}\n{base}', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as error:
        load_config(workdir / "monitor.toml", env={})
    assert "CREDENTIALS_DIRECTORY" in str(error.value)


def test_group_or_other_accessible_secret_files_are_refused(workdir: Path, tmp_path: Path) -> None:
    """RELIABILITY.md SEC-2: like ssh with a private key; the credentials directory is exempt."""
    secret_file = tmp_path / "token"
    secret_file.write_text("hunter2-secret")
    base = MONITOR_TOML.replace('database = "sqlite:///var/monitor.db"', "")
    (workdir / "monitor.toml").write_text(
        f'database = {{ file = "{secret_file}" }}\n{base}', encoding="utf-8"
    )
    for mode in (0o644, 0o640, 0o604, 0o620):
        secret_file.chmod(mode)
        with pytest.raises(ConfigError) as error:
            load_config(workdir / "monitor.toml", env={})
        assert f"mode {mode:04o}" in str(error.value) and "chmod 600" in str(error.value)
        assert "hunter2" not in str(error.value)
    secret_file.chmod(0o600)
    with pytest.raises(ConfigError) as error:  # resolved, then refused as not a URL
        load_config(workdir / "monitor.toml", env={})
    assert "SQLAlchemy URL" in str(error.value)
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "db").write_text("sqlite:////tmp/cred.db")
    (tmp_path / "creds" / "db").chmod(0o644)
    (workdir / "monitor.toml").write_text(f'database = {{ credential = "db" }}\n{base}')
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
    assert load_config(workdir / "monitor.toml", env=env).database == "sqlite:////tmp/cred.db"


def test_database_url_with_a_password_is_masked_in_repr(workdir: Path) -> None:
    env = {"MONITOR_DATABASE_URL": "postgresql+psycopg://monitor:hunter2@127.0.0.1:1/db"}
    settings = load_config(workdir / "monitor.toml", env=env)
    assert settings.database == env["MONITOR_DATABASE_URL"]
    assert "hunter2" not in repr(settings)


def test_secret_repr_is_masked() -> None:
    assert "hunter2" not in repr(Secret("hunter2"))
    assert Secret("hunter2") == "hunter2"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("1h", 3600),
                                               ("7d", 604800), ("250ms", 0.25)])  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["30", 30, "10 minutes", "-5s", ""])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_sizes() -> None:
    assert parse_size("10MiB") == 10 * 1024 * 1024
    assert parse_size("512KB") == 512_000
    assert parse_size(100) == 100
    with pytest.raises(ValueError):
        parse_size("ten")


# --- watchlist ---------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watchlist.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_flat_all_list_is_an_error_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "t"\nall = ["中國", "俄羅斯"]\n')
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    ((key, line, message),) = problems(error)
    assert (key, line) == ("topics[0].all", 3)
    assert '[["中國"], ["俄羅斯"]]' in message and "any" in message


def test_topic_needs_all_or_any(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "t"\nnone = ["x"]\n')
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    assert "needs `all`, `any`, `regex` or `query`" in str(error.value)


def test_spelling_in_two_alias_classes_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[aliases]\n"普京" = ["普丁"]\n"Putin" = ["普丁"]\n'
                           '[[topics]]\nid = "t"\nany = ["普京"]\n')  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    ((key, line, message),) = problems(error)
    assert key == "aliases.Putin" and line == 3 and "'普丁'" in message


def test_spellings_equal_after_normalization_count_as_the_same(tmp_path: Path) -> None:
    path = write(tmp_path, '[aliases]\n"俄羅斯" = ["俄國"]\n"俄罗斯" = ["Russia"]\n'
                           '[[topics]]\nid = "t"\nany = ["俄國"]\n')  # fmt: skip
    with pytest.raises(ConfigError):
        load_watchlist(path)


def test_topic_ids_unique_and_well_formed(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "a"\nany = ["x"]\n[[topics]]\nid = "a"\nany = ["y"]\n'
                           '[[topics]]\nid = "Not OK"\nany = ["z"]\n')  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    found = problems(error)
    assert ("topics[1].id", 5, "duplicate topic id 'a'") in found
    assert any(k == "topics[2].id" and line == 8 for k, line, _ in found)


def test_unknown_topic_key_and_empty_terms(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "t"\nany = ["x", " "]\nanny = ["y"]\n')
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    found = problems(error)
    assert any(k == "topics[0].anny" and "did you mean 'any'" in m for k, _, m in found)
    assert any(k == "topics[0].any" and "empty term" in m for k, _, m in found)


def test_notify_must_name_a_configured_notifier(workdir: Path) -> None:
    with (workdir / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[topics]]\nid = "extra"\nany = ["x"]\nnotify = ["pager"]\n')
    with pytest.raises(ConfigError) as error:
        load_config(workdir / "monitor.toml", env={})
    (problem,) = error.value.problems
    assert problem.file.endswith("watchlist.toml")
    assert "no notifier named 'pager'" in problem.message and "archive" in problem.message


def test_config_and_watchlist_problems_are_reported_together(workdir: Path) -> None:
    (workdir / "watchlist.toml").write_text('[[topics]]\nid = "t"\n', encoding="utf-8")
    text = (workdir / "monitor.toml").read_text().replace('id = "inbox"', 'id = "inbox"\nbogus = 1')
    (workdir / "monitor.toml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(workdir / "monitor.toml", env={})
    files = {os.path.basename(p.file) for p in error.value.problems}
    assert files == {"monitor.toml", "watchlist.toml"}


def test_http_and_retention_tables(workdir: Path) -> None:
    toml = workdir / "monitor.toml"
    base = toml.read_text()
    settings = load_config(toml, env={})
    assert settings.http.listen == ""
    assert (settings.retention.article_text, settings.retention.deliveries) == (None, None)
    toml.write_text(
        base + '\n[http]\nlisten = "[::1]:9464"\n[retention]\narticle_text = "90d"\n'
        'deliveries = ""\n'
    )
    settings = load_config(toml, env={})
    assert settings.http.listen == "[::1]:9464"
    assert settings.retention.article_text == timedelta(days=90)
    assert settings.retention.deliveries is None
    toml.write_text(
        base + '\n[http]\nlisten = "9464"\n[retention]\narticle_text = 90\nkeep = "1d"\n'
    )
    with pytest.raises(ConfigError) as error:
        load_config(toml, env={})
    keys = [key for key, _line, _message in problems(error)]
    assert keys == ["http.listen", "retention.keep", "retention.article_text"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:1", ("::1", 1)),
     ("localhost:65535", ("localhost", 65535))],
)  # fmt: skip
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    from monitor.config import parse_listen

    assert parse_listen(text) == expected


@pytest.mark.parametrize("bad", ["9464", ":9464", "host:", "host:0", "host:70000", "h:x"])
def test_parse_listen_refuses(bad: str) -> None:
    from monitor.config import parse_listen

    with pytest.raises(ValueError, match="host:port"):
        parse_listen(bad)


def test_topic_filters_load(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "t"\nany = ["x"]\nsources = ["dw-zh"]\n'
                           'tags = ["asia"]\nfields = ["text", "title"]\n'
                           '[[topics]]\nid = "u"\nany = ["x"]\nfields = ["title"]\n')  # fmt: skip
    t, u = load_watchlist(path).topics
    assert (t.sources, t.tags, t.fields) == (("dw-zh",), ("asia",), ("title", "text"))
    assert (u.sources, u.tags, u.fields) == ((), (), ("title",))


def test_bad_topic_filters(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "t"\nany = ["x"]\nsources = "dw-zh"\n'
                           'tags = [""]\nfields = ["text"]\n')  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    found = problems(error)
    assert ("topics[0].sources", 4, "must be a list of non-empty strings") in found
    assert ("topics[0].tags", 5, "must be a list of non-empty strings") in found
    assert ("topics[0].fields", 6, 'must be ["title"] or ["title", "text"]') in found


def test_topic_sources_must_name_a_configured_source(workdir: Path) -> None:
    with (workdir / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[topics]]\nid = "extra"\nany = ["x"]\nsources = ["inbox", "dw-zh"]\n')
    with pytest.raises(ConfigError) as error:
        load_config(workdir / "monitor.toml", env={})
    (problem,) = error.value.problems
    assert problem.file.endswith("watchlist.toml") and problem.key.endswith(".sources")
    assert "no source with id 'dw-zh'" in problem.message and "inbox" in problem.message
    # Alone (`monitor explain --watchlist`), the sources are not known and not checked.
    assert load_watchlist(workdir / "watchlist.toml").topics[-1].sources == ("inbox", "dw-zh")


def test_folder_and_feed_tags_reach_the_settings(workdir: Path) -> None:
    text = (
        (workdir / "monitor.toml")
        .read_text()
        .replace('id = "inbox"', 'id = "inbox"\ntags = ["local", "asia"]')
    )
    text += '\n[[feeds]]\nid = "dw-zh"\nurl = "https://example.org/rss"\ntags = ["asia"]\n'
    (workdir / "monitor.toml").write_text(text)
    settings = load_config(workdir / "monitor.toml", env={})
    assert settings.folders[0].tags == ("local", "asia")
    assert settings.source_tags == {"inbox": ("local", "asia"), "dw-zh": ("asia",)}
    (workdir / "monitor.toml").write_text(text.replace('tags = ["local", "asia"]', "tags = 1"))
    with pytest.raises(ConfigError) as error:
        load_config(workdir / "monitor.toml", env={})
    assert [p[0] for p in problems(error)] == ["folders[0].tags"]


def test_min_hits_must_be_reachable(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "t"\nany = ["a", "b"]\nmin_hits = 2\n'
                           '[[topics]]\nid = "u"\nall = [["a"]]\nany = ["A", "b"]\nmin_hits = 3\n'
                           '[[topics]]\nid = "v"\nany = ["a"]\nmin_hits = 0\n')  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    assert problems(error) == [
        (
            "topics[1].min_hits",
            9,
            "can never be reached: the topic has 2 distinct `all`/`any` terms and regexes",
        ),
        ("topics[2].min_hits", 13, "must be a positive integer"),
    ]


def test_terms_with_exceptions(tmp_path: Path) -> None:
    path = write(tmp_path, '[aliases]\n"北韓" = ["朝鮮"]\n[[topics]]\nid = "t"\n'
                           'all = [[{ term = "中美", except = ["中美洲"] }, "美中"]]\n'
                           'any = ["會談", { term = "北韓", except = ["朝鮮族"] }]\n'
                           'none = [{ term = "足球" }]\n')  # fmt: skip
    (topic,) = load_watchlist(path).topics
    assert topic.all == (("中美", "美中"),) and topic.any == ("會談", "北韓")
    assert topic.none == ("足球",)
    assert dict(topic.exceptions) == {"中美": ("中美洲",), "北韓": ("朝鮮族",), "足球": ()}


def test_bad_exceptions(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "t"\n'
                           'any = [{ term = "中美", except = ["南美洲"] }]\n'
                           'none = [{ term = "x", exept = ["xy"] }]\n'
                           'all = [{ term = "中美" }]\n'
                           '[[topics]]\nid = "u"\nany = [{ term = "中美", except = ["中美"] }, 3]\n')  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    found = problems(error)
    assert any(k == "topics[0].any[0].except" and line == 3 and "must contain '中美'" in m
               for k, line, m in found)  # fmt: skip
    assert ("topics[0].none[0].exept", 4, "unknown key (did you mean 'except'?)") in found
    assert any(k == "topics[0].all" and '[["中美"]]' in m for k, _, m in found)
    assert any(k == "topics[1].any" and "strings or { term" in m for k, _, m in found)


def test_regex_loads_and_invalid_patterns_name_topic_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "only-regex"\nregex = ["f-\\\\d+"]\n'
                           '[[topics]]\nid = "bad"\nany = ["x"]\nregex = ["(unclosed"]\n'
                           '[[topics]]\nid = "backref"\nregex = ["(a)\\\\1"]\n')  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    found = problems(error)
    assert [(k, line) for k, line, _ in found] == [("topics[1].regex", 7), ("topics[2].regex", 10)]
    assert "invalid regular expression '(unclosed': missing ): (unclosed" in found[0][2]
    assert "RE2 syntax" in found[1][2]
    path.write_text('[[topics]]\nid = "only-regex"\nregex = ["f-\\\\d+"]\n', encoding="utf-8")
    assert load_watchlist(path).topics[0].regex == ("f-\\d+",)


def test_alert_storm_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "a"\nany = ["x"]\nmax_alerts_per_hour = 5\n'
                           'muted_until = "2026-12-01"\n'
                           '[[topics]]\nid = "b"\nany = ["x"]\nmuted_until = 2026-12-01T08:00:00+08:00\n'
                           '[[topics]]\nid = "c"\nany = ["x"]\nmuted_until = 2026-12-01\n'
                           '[[topics]]\nid = "d"\nany = ["x"]\nmuted_until = 2026-12-01T08:00:00\n')  # fmt: skip
    a, b, c, d = load_watchlist(path).topics
    assert a.max_alerts_per_hour == 5 and b.max_alerts_per_hour is None
    assert a.muted_until == c.muted_until == datetime(2026, 12, 1, tzinfo=UTC)
    assert b.muted_until == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert d.muted_until == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_bad_alert_storm_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[[topics]]\nid = "a"\nany = ["x"]\nmax_alerts_per_hour = 0\n'
                           'muted_until = "next week"\n'
                           '[[topics]]\nid = "b"\nany = ["x"]\nmuted_until = 08:00:00\n')  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_watchlist(path)
    found = problems(error)
    assert ("topics[0].max_alerts_per_hour", 4, "must be a positive integer") in found
    assert any(k == "topics[0].muted_until" and line == 5 and "'next week'" in m
               for k, line, m in found)  # fmt: skip
    assert any(k == "topics[1].muted_until" and line == 9 for k, line, _ in found)


# --- [[sources]]: one table for every source type --------------------------------------------

SHORTHAND_SOURCES = """\
database = "sqlite:///m.db"
[defaults]
poll_interval = "7m"
broken_after = "2d"
[[folders]]
id = "inbox"
path = "inbox"
tags = ["local"]
end_markers = ["相關新聞"]
max_file_size = "1MiB"
[[feeds]]
id = "dw-zh"
url = "https://example.org/rss"
tags = ["asia"]
max_age = "7d"
headers = { X-Token = "t" }
"""

GENERIC_SOURCES = """\
database = "sqlite:///m.db"
[defaults]
poll_interval = "7m"
broken_after = "2d"
[[sources]]
id = "inbox"
type = "folder"
path = "inbox"
tags = ["local"]
end_markers = ["相關新聞"]
max_file_size = "1MiB"
[[sources]]
id = "dw-zh"
type = "feed"
url = "https://example.org/rss"
tags = ["asia"]
max_age = "7d"
headers = { X-Token = "t" }
"""


def load_text(tmp_path: Path, text: str) -> object:
    (tmp_path / "watchlist.toml").write_text('[[topics]]\nid = "t"\nany = ["x"]\n')
    (tmp_path / "monitor.toml").write_text(text, encoding="utf-8")
    return load_config(tmp_path / "monitor.toml", env={})


def comparable(settings: object) -> list[tuple[object, ...]]:
    """Each source's settings without the instance, its class, and its option values."""
    import dataclasses

    from monitor.config import plugin_options

    out = []
    for s in settings.sources:  # type: ignore[attr-defined]
        options = {name: getattr(s.source, name) for name in plugin_options(type(s.source))}
        out.append((dataclasses.replace(s, source=None), type(s.source), options))
    return out


def test_sources_tables_load_like_feeds_and_folders(tmp_path: Path) -> None:
    shorthand = load_text(tmp_path, SHORTHAND_SOURCES)
    generic = load_text(tmp_path, GENERIC_SOURCES)
    assert comparable(generic) == comparable(shorthand)
    folder, feed = generic.sources  # type: ignore[attr-defined]
    # Today's defaults per type: a folder rescans every 30s and alerts its backlog; a feed
    # polls at [defaults] poll_interval and stores its backlog silently.
    assert (folder.type, folder.interval, folder.first_poll) == (
        "folder",
        timedelta(seconds=30),
        "alert",
    )
    assert (feed.type, feed.interval, feed.first_poll) == ("feed", timedelta(minutes=7), "skip")
    assert folder.broken_after == feed.broken_after == timedelta(days=2)
    assert generic.folders == (folder,) and generic.feeds == (feed,)  # type: ignore[attr-defined]
    assert generic.source_tags == {"inbox": ("local",), "dw-zh": ("asia",)}  # type: ignore[attr-defined]


def test_sources_table_errors_name_the_table_and_key(tmp_path: Path) -> None:
    text = (
        'database = "sqlite:///m.db"\n'
        '[[feeds]]\nid = "dw-zh"\nurl = "https://example.org/rss"\n'
        '[[sources]]\nid = "a"\ntype = "carrier-pigeon"\n'
        '[[sources]]\nid = "b"\ntype = "feed"\nurl = "https://example.org/b"\nfirst_poll = "never"\n'
        '[[sources]]\nid = "c"\ntype = "feed"\nurl = "ftp://example.org/c"\n'
        '[[sources]]\nid = "dw-zh"\ntype = "feed"\nurl = "https://example.org/d"\n'
        '[[sources]]\nid = "e"\ntype = "folder"\npath = "x"\nintervall = "1m"\n'
        '[[folders]]\nid = "f"\ntype = "feed"\npath = "x"\n'
    )
    with pytest.raises(ConfigError) as error:
        load_text(tmp_path, text)
    found = {key: message for key, _line, message in problems(error)}
    assert (
        "'carrier-pigeon'" in found["sources[0].type"]
        and "feed, folder" in found["sources[0].type"]
    )
    assert (
        found["sources[1].first_poll"] == 'must be "skip" (store the backlog silently) or "alert"'
    )
    assert "sources[2].url" in found
    assert found["sources[3].id"].startswith("duplicate source id 'dw-zh': also feeds[0]")
    assert "did you mean 'interval'" in found["sources[4].intervall"]
    assert "[[sources]]" in found["folders[0].type"]
    assert len(found) == 6


def test_sources_table_needs_a_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_text(tmp_path, 'database = "sqlite:///m.db"\n[[sources]]\nid = "a"\nurl = "x"\n')
    assert problems(error) == [("sources[0].type", 2, 'required: the source type, e.g. "feed"')]


def test_a_plugin_class_is_loaded_once_however_many_feeds_use_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Config loading is linear with a small constant: 300 feeds load the feed class once,
    not once per feed (issue 12: 20 % of an all-304 run went to entry points)."""
    import monitor.plugins
    from monitor.plugins import forget_entry_points

    loads: list[str] = []
    real_import = importlib.import_module

    def counting_import(name: str, package: str | None = None) -> object:
        loads.append(name)
        return real_import(name, package)

    forget_entry_points()
    monkeypatch.setattr(monitor.plugins.importlib, "import_module", counting_import)
    config = workdir / "monitor.toml"
    feeds = "".join(
        f'\n[[feeds]]\nid = "f{n}"\nurl = "https://news{n}.example/rss"\n' for n in range(300)
    )
    config.write_text(config.read_text() + feeds, encoding="utf-8")
    settings = load_config(config, env={})
    assert len([s for s in settings.sources if s.type == "feed"]) == 300
    assert loads.count("monitor.sources.feed") == 1
    forget_entry_points()
