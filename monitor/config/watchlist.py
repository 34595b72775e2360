"""The watchlist file → `Watchlist`: alias classes and topics, validated whole.

Keys are declared in `keys` (WATCHLIST_KEYS, TOPIC_KEYS, TERM_KEYS); regexes are checked by
compiling them exactly as the matcher will (`monitor.regex`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.config.keys import TERM_KEYS, TOPIC_KEYS, WATCHLIST_KEYS, Key
from monitor.config.toml import Collector, check_keys, open_toml
from monitor.errors import ConfigError
from monitor.models import FIELDS, Topic, Watchlist
from monitor.query import QueryError, caret, empty_truth, parse, scopes, terms
from monitor.regex import RegexError, compile_regex
from monitor.text import blank, normalize

_TOPIC = {k.name: k for k in TOPIC_KEYS}


def _names(keys: Sequence[Key]) -> list[str]:
    return [k.name for k in keys]


def watchlist_unwritable(path: Path) -> str | None:
    """Why this process cannot save the watchlist as the web editor does (a new file in the
    target's folder, renamed over it; a symlink resolved), or None if it can. Asked of the
    process that will write: `monitor check` run as root passes where the shipped unit's
    dynamic user, under a read-only /etc, cannot."""
    target = Path(os.path.realpath(path))
    folder = target.parent
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError as e:
        return f"{folder} cannot be read: {e.strerror}"
    if read_only:  # ProtectSystem= mounts /etc read-only, whoever the user is
        return f"{folder} is on a read-only file system"
    if not os.access(folder, os.W_OK):
        return f"{folder} is not writable by this process (uid {os.getuid()})"
    if target.exists() and not os.access(target, os.W_OK):
        return f"{target} is not writable by this process (uid {os.getuid()})"
    return None


def load_watchlist(
    path: Path | str, *, notifiers: set[str] | None = None, sources: set[str] | None = None
) -> Watchlist:
    """Read and validate a watchlist file; `notifiers` (names) checks each topic's `notify`,
    `sources` (ids) each topic's `sources`; None: not known here, not checked.
    """
    path = Path(path)
    raw, out = open_toml(path)
    if not out.text.strip():
        # An empty file is most likely a save in progress (truncated, not yet written):
        # applying it would silently stop every topic.
        out.add([], "empty file: write `topics = []` to watch nothing on purpose")
    check_keys(raw, _names(WATCHLIST_KEYS), [], out)
    aliases = _load_aliases(raw.get("aliases", {}), out)
    topics = _load_topics(raw.get("topics", []), aliases, notifiers, sources, out)
    if out.problems:
        raise ConfigError(out.problems)
    return Watchlist(aliases=tuple(aliases), topics=tuple(topics))


def _load_aliases(value: Any, out: Collector) -> list[tuple[str, ...]]:
    if not isinstance(value, dict):
        out.add(["aliases"], 'must be a table: "name" = ["spelling", …]')
        return []
    classes: list[tuple[str, ...]] = []
    owner: dict[str, str] = {}
    for head, spellings in value.items():
        key: list[str | int] = ["aliases", head]
        if not isinstance(spellings, list) or not all(isinstance(s, str) for s in spellings):
            out.add(key, "must be a list of spellings")
            continue
        members = (head, *spellings)
        for spelling in members:
            norm = normalize(spelling)
            if blank(spelling):
                out.add(key, f"empty spelling {spelling!r}")
            elif norm in owner and owner[norm] != head:
                out.add(
                    key,
                    f"spelling {spelling!r} is already in the alias class of {owner[norm]!r}; "
                    "a spelling may belong to one class only (merge the two)",
                )
            else:
                owner[norm] = head
        classes.append(members)
    return classes


def _load_topics(
    value: Any,
    aliases: Sequence[Sequence[str]],
    notifiers: set[str] | None,
    sources: set[str] | None,
    out: Collector,
) -> list[Topic]:
    alias_of: dict[str, list[str]] = {}
    for spellings in aliases:
        normalized = [normalize(s) for s in spellings]
        alias_of.update((spelling, normalized) for spelling in normalized)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        out.add(["topics"], "must be an array of tables ([[topics]])")
        return []
    topics: list[Topic] = []
    ids: set[str] = set()
    for index, table in enumerate(value):
        key: list[str | int] = ["topics", index]
        check_keys(table, _names(TOPIC_KEYS), key, out)
        try:
            topic_id = _TOPIC["id"].load(table.get("id"))
        except ValueError as e:
            out.add([*key, "id"], str(e))
            continue
        if topic_id in ids:
            out.add([*key, "id"], f"duplicate topic id {topic_id!r}")
            continue
        ids.add(topic_id)
        title = table.get("title", topic_id)
        if not isinstance(title, str) or not title.strip():
            out.add([*key, "title"], "must be a non-empty string")
            title = topic_id
        context = _TermContext(alias_of)
        groups = _load_groups(table.get("all"), [*key, "all"], out, context)
        any_terms = _load_terms(table.get("any"), [*key, "any"], out, context)
        none_terms = _load_terms(table.get("none"), [*key, "none"], out, context)
        regex = _load_regex(table.get("regex"), [*key, "regex"], out)
        query = _load_query(table, [*key, "query"], out)
        if (
            not groups
            and not any_terms
            and not regex
            and not query
            and not {
                "all",
                "any",
                "regex",
                "query",
            }
            & set(table)
        ):
            out.add(key, f"topic {topic_id!r} needs `all`, `any`, `regex` or `query`")
        notify: tuple[str, ...] | None = None
        if "notify" in table:
            notify = _load_strings(table["notify"], [*key, "notify"], out)
            for name in notify:
                if notifiers is not None and name not in notifiers:
                    known = ", ".join(sorted(notifiers)) or "none"
                    out.add([*key, "notify"], f"no notifier named {name!r} (configured: {known})")
        source_ids = _load_strings(table.get("sources"), [*key, "sources"], out)
        for name in source_ids:
            if sources is not None and name not in sources:
                known = ", ".join(sorted(sources)) or "none"
                out.add([*key, "sources"], f"no source with id {name!r} (configured: {known})")
        tags = _load_strings(table.get("tags"), [*key, "tags"], out)
        fields: tuple[str, ...] = FIELDS
        if "fields" in table:
            fields = _load_strings(table["fields"], [*key, "fields"], out)
            if sorted(fields) == sorted(FIELDS):
                fields = FIELDS
            elif fields != ("title",):
                out.add([*key, "fields"], 'must be ["title"] or ["title", "text"]')
                fields = FIELDS
            in_text = [s for s in scopes(parse(query)) if s.field == "text"] if query else []
            if fields == ("title",) and query and in_text:
                _query_problem(
                    out,
                    [*key, "query"],
                    query,
                    in_text[0].offset,
                    "has a text:( … ) scope, but the topic reads the title only "
                    '(fields = ["title"])',
                )
        min_hits = table.get("min_hits", 1)
        distinct = len({normalize(t) for t in (*(t for g in groups for t in g), *any_terms)})
        distinct += len(set(regex))
        if not isinstance(min_hits, int) or isinstance(min_hits, bool) or min_hits < 1:
            out.add([*key, "min_hits"], "must be a positive integer")
            min_hits = 1
        elif min_hits > max(distinct, 1):
            out.add(
                [*key, "min_hits"],
                f"can never be reached: the topic has {distinct} distinct `all`/`any` terms "
                "and regexes" + (" (min_hits does not count the query's terms)" if query else ""),
            )
            min_hits = 1
        max_per_hour = _declared(table, "max_alerts_per_hour", key, out)
        muted_until = _declared(table, "muted_until", key, out)
        near_duplicates = _declared(table, "near_duplicates", key, out)
        topics.append(
            Topic(
                topic_id,
                title.strip(),
                groups,
                any_terms,
                none_terms,
                notify,
                sources=source_ids,
                tags=tags,
                fields=fields,
                min_hits=min_hits,
                regex=regex,
                query=query,
                max_alerts_per_hour=max_per_hour,
                muted_until=muted_until,
                near_duplicates=near_duplicates,
                exceptions=tuple(
                    (term, tuple(dict.fromkeys(spellings)))
                    for term, spellings in context.exceptions.items()
                ),
            )
        )
    return topics


def _declared(table: Mapping[str, Any], name: str, key: list[str | int], out: Collector) -> Any:
    """A topic key whose declaration says all about it: its parsed value, or its default
    (and a problem) when the value is wrong."""
    declared = _TOPIC[name]
    if name not in table:
        return declared.default
    try:
        return declared.load(table[name])
    except ValueError as e:
        out.add([*key, name], str(e))
        return declared.default


def _load_query(table: Mapping[str, Any], key: list[str | int], out: Collector) -> str | None:
    """The topic's `query`, parsed as the matcher will parse it: None when absent or wrong
    (each problem placed on its line and column, with a caret under the place)."""
    if "query" not in table:
        return None
    value = table["query"]
    if not isinstance(value, str):
        out.add(key, "must be a string")
        return None
    try:
        node = parse(value)
    except QueryError as e:
        _query_problem(out, key, value, e.offset, e.message)
        return None
    empty_at = empty_truth(node)
    if empty_at is not None:
        _query_problem(
            out,
            key,
            value,
            empty_at,
            "would be true on an article without any of its terms (e.g. `NOT a`, `a OR NOT b`): "
            "every query must need at least one hit; add a positive term with AND",
        )
        return None
    for term in terms(node):
        if not term.wildcard and blank(term.text):
            _query_problem(out, key, value, term.offset, f"empty term {term.written!r}")
            return None
    return value


def _query_problem(
    out: Collector, key: list[str | int], query: str, offset: int, message: str
) -> None:
    """A problem at `offset` in a query: its line and column, and a caret under the place."""
    shown = "\n".join("    " + line for line in caret(query, offset).splitlines())
    out.add_in_string(key, query, offset, message, shown)


def _load_strings(value: Any, key: list[str | int], out: Collector) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        out.add(key, "must be a list of non-empty strings")
        return ()
    return tuple(value)


def _load_regex(value: Any, key: list[str | int], out: Collector) -> tuple[str, ...]:
    """RE2 patterns, each compiled here as the matcher will compile it."""
    patterns = _load_strings(value, key, out)
    for pattern in patterns:
        try:
            compile_regex(pattern)
        except RegexError as e:
            reason = e.args[0] if e.args else e
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            out.add(key, f"invalid regular expression {pattern!r}: {reason} (RE2 syntax)")
            return ()
    return patterns


@dataclass
class _TermContext:
    """What a topic's terms need while loading: alias classes, and where exceptions go."""

    alias_of: Mapping[str, Sequence[str]]  # normalized spelling → its class, normalized
    exceptions: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def _load_terms(
    value: Any, key: list[str | int], out: Collector, context: _TermContext
) -> tuple[str, ...]:
    """A list of terms: strings, or `{ term = "…", except = ["…"] }` tables."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | dict) for v in value):
        out.add(key, 'must be a list of terms: strings or { term = "…", except = ["…"] }')
        return ()
    terms = []
    for i, item in enumerate(value):
        term = item if isinstance(item, str) else _load_guarded_term(item, [*key, i], out, context)
        if term is None:
            return ()
        if blank(term):
            out.add(key, f"empty term {term!r}")
            return ()
        terms.append(term)
    return tuple(terms)


def _load_guarded_term(
    table: dict[str, Any], key: list[str | int], out: Collector, context: _TermContext
) -> str | None:
    """`{ term = "中美", except = ["中美洲"] }`: the term, its exceptions kept in `context`."""
    check_keys(table, _names(TERM_KEYS), key, out)
    term = table.get("term")
    if not isinstance(term, str) or blank(term):
        out.add([*key, "term"], "required: a non-empty string")
        return None
    exceptions = _load_strings(table.get("except"), [*key, "except"], out)
    own = normalize(term)
    spellings = context.alias_of.get(own, (own,))
    for exception in exceptions:
        folded = normalize(exception)
        if not any(s in folded and s != folded for s in spellings):
            out.add(
                [*key, "except"],
                f"exception {exception!r} must contain {term!r} (or a spelling of its alias "
                "class) and be longer: a hit of the term inside it is what it discards",
            )
            return None
    context.exceptions.setdefault(term, []).extend(exceptions)
    return term


def _load_groups(
    value: Any, key: list[str | int], out: Collector, context: _TermContext
) -> tuple[tuple[str, ...], ...]:
    if value is None:
        return ()
    if isinstance(value, list) and value and all(isinstance(v, str | dict) for v in value):
        words = [v if isinstance(v, str) else str(v.get("term", "…")) for v in value[:3]]
        suggestion = ", ".join(f'["{v}"]' for v in words)
        out.add(
            key,
            "must be a list of groups (lists); every group needs a hit. A flat list is ambiguous: "
            f"write [{suggestion}] if every term is required, or use `any` if one is enough",
        )
        return ()
    if not isinstance(value, list) or not all(isinstance(v, list) for v in value):
        out.add(key, 'must be a list of lists of strings, e.g. [["中國", "北京"], ["俄羅斯"]]')
        return ()
    groups = []
    for i, group in enumerate(value):
        terms = _load_terms(group, [*key, i], out, context)
        if not terms:
            out.add([*key, i], "an empty group can never match")
            continue
        groups.append(terms)
    return tuple(groups)
