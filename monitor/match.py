"""Topic matching: the whole watchlist compiled once into one Aho-Corasick automaton.

Pure: values in, values out. Terms and text get the same normalization (`monitor.text`), so
`俄羅斯` finds `俄罗斯` and `ＮＡＴＯ` finds `NATO`. A term that starts (ends) with a Latin, Greek
or Cyrillic letter or a digit must not touch another such character on that side: `NATO`
matches `NATO秘書長` but not `Donato` (Python's `\\b` treats CJK as word characters and gets
that wrong). Other scripts match as substrings. Alias classes make spellings interchangeable.
Term exceptions are patterns of the same automaton; topic regexes run on RE2 (linear time).
The article's source id and tags come in as values (the `sources`/`tags` filters); the clock
never does: muting and alert limits are the pipeline's.
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick_rs

from monitor.models import Match, Topic, Watchlist
from monitor.regex import compile_regex
from monitor.text import MappedText, mapped_text, normalize, one_line

SNIPPET_CHARS = 200
_SNIPPET_LEAD = 60

# Latin (incl. extensions and IPA), Greek, Cyrillic letters, combining marks, and digits.
_WORD_CHAR = re.compile(
    "[0-9a-zA-Z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02af\u0300-\u036f"
    "\u0370-\u03ff\u0400-\u052f\u1c80-\u1c8f\u1d00-\u1dbf\u1e00-\u1fff\u2c60-\u2c7f"
    "\u2de0-\u2dff\ua640-\ua69f\ua720-\ua7ff\uab30-\uab6f\uff10-\uff19]"
)


def _is_word_char(char: str) -> bool:
    return bool(_WORD_CHAR.match(char)) or char.isdigit()


@dataclass(frozen=True)
class Hit:
    """Where one spelling was first found: in the title or the text, and what it looked like."""

    field: str  # "title" | "text"
    start: int  # offset in the original title / text
    found: str  # the spelling as the article writes it


@dataclass(frozen=True)
class TermResult:
    term: str
    hits: tuple[Hit, ...]  # empty: the term (and its aliases) did not occur


@dataclass(frozen=True)
class Verdict:
    """Why a topic did or did not fire: every group, the `any` terms, and the vetoes."""

    topic: Topic
    matched: bool
    groups: tuple[tuple[TermResult, ...], ...]
    any: tuple[TermResult, ...]
    vetoes: tuple[TermResult, ...]
    reason: str
    regex: tuple[TermResult, ...] = ()  # each pattern as written, with its first hits


@dataclass(frozen=True)
class _Term:
    text: str
    pattern_ids: tuple[int, ...]


@dataclass(frozen=True)
class _CompiledTopic:
    topic: Topic
    groups: tuple[tuple[_Term, ...], ...]
    any: tuple[_Term, ...]
    none: tuple[_Term, ...]
    sources: frozenset[str] | None  # None: every source
    tags: frozenset[str] | None  # None: any tags
    title_only: bool
    min_hits: int
    positive: tuple[_Term, ...]  # the terms of `all` and `any`, which `min_hits` counts
    regex: tuple[tuple[str, Any], ...]  # (pattern as written, compiled RE2)

    def admits(self, source: str, tags: Sequence[str]) -> str | None:
        """None if the article's source passes the topic's filters, else why not."""
        if self.sources is not None and source not in self.sources:
            return f"source {source or '(none)'} is not among sources"
        if self.tags is not None and self.tags.isdisjoint(tags):
            return f"source {source or '(none)'} has none of the tags"
        return None


@dataclass(frozen=True)
class _Found:
    """Pattern id → its hits (first occurrence in the title, then in the text)."""

    hits: dict[int, list[Hit]]
    in_title: set[int]  # pattern ids with a hit in the title
    title: MappedText  # the normalized fields, for regexes
    text: MappedText

    def regex_hits(
        self, compiled: _CompiledTopic, pattern: Any, *, first: bool = False
    ) -> tuple[Hit, ...]:
        """The first match of a regex in each field the topic reads (`first`: stop at one)."""
        found = []
        for field, mapped in (("title", self.title), ("text", self.text)):
            if field == "text" and compiled.title_only:
                break
            m = pattern.search(mapped.text)
            if m is not None:
                found.append(_hit(field, mapped, m.start(), max(m.end(), m.start() + 1)))
                if first:
                    break
        return tuple(found)


class Matcher:
    """A compiled watchlist. Build once per watchlist version; `match` is then cheap."""

    def __init__(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist
        self.topics = {topic.id: topic for topic in watchlist.topics}
        alias_of: dict[str, tuple[str, ...]] = {}
        for spellings in watchlist.aliases:
            normalized = tuple(dict.fromkeys(normalize(s) for s in spellings))
            for spelling in normalized:
                alias_of[spelling] = normalized
        pattern_index: dict[str, int] = {}
        # A spelling guarded by exceptions is its own (negative) id: (spelling, exceptions) → id.
        guard_index: dict[tuple[int, tuple[int, ...]], int] = {}

        def pattern(spelling: str) -> int:
            return pattern_index.setdefault(spelling, len(pattern_index))

        def compile_term(term: str, exceptions: Sequence[str]) -> _Term:
            own = normalize(term)
            ids = [pattern(spelling) for spelling in alias_of.get(own, (own,))]
            if exceptions:
                guards = tuple(sorted({pattern(normalize(e)) for e in exceptions}))
                ids = [guard_index.setdefault((pid, guards), ~len(guard_index)) for pid in ids]
            return _Term(term, tuple(ids))

        self._topics = tuple(_compile_topic(topic, compile_term) for topic in watchlist.topics)
        patterns = list(pattern_index)
        self._checks_left = [_is_word_char(p[0]) for p in patterns]
        self._checks_right = [_is_word_char(p[-1]) for p in patterns]
        self._automaton = (
            ahocorasick_rs.AhoCorasick(patterns, matchkind=ahocorasick_rs.MatchKind.Standard)
            if patterns
            else None
        )
        self._guards = tuple((gid, pid, guards) for (pid, guards), gid in guard_index.items())
        self._tracked = frozenset(
            p for _, pid, guards in self._guards for p in (pid, *guards)
        )  # every occurrence of these is needed, not only the first
        # Only topics with a positive term among the hits can fire: index them by pattern.
        # Guarded ids are negative (~k): they index the list from its end, past the patterns.
        topics_of: list[set[int]] = [set() for _ in range(len(patterns) + len(guard_index))]
        for index, compiled in enumerate(self._topics):
            for term in compiled.positive:
                for pid in term.pattern_ids:
                    topics_of[pid].add(index)
        self._topics_of = [sorted(s) for s in topics_of]
        # Topics a regex alone can fire (no `all` group): candidates for every article.
        self._regex_topics = [i for i, c in enumerate(self._topics) if c.regex and not c.groups]

    def match(
        self,
        title: str,
        text: str,
        *,
        source: str = "",
        tags: Sequence[str] = (),
        folded: tuple[MappedText, MappedText] | None = None,
    ) -> list[Match]:
        """Every topic that fires on this article, in watchlist order.

        `source` is the article's source id and `tags` that source's tags, for the topics'
        `sources` and `tags` filters. The same rules as `explain` (`_judge`), stopped at the
        first that fails; only a topic that fires gets its full verdict, for the `Match`.
        `folded`: the title and text already folded (by a parse worker), or None.
        """
        found = self._find(title, text, folded)
        hits = found.hits
        topics_of = self._topics_of
        # `_judge` wants a hit among the `all`/`any` terms or the regexes: only topics with a
        # term among the hits, or with a regex and no `all`, can fire. The rest need no look.
        candidate_set = {t for pid in hits for t in topics_of[pid]}
        if self._regex_topics:
            candidate_set.update(self._regex_topics)
        matches = []
        for index in sorted(candidate_set):
            compiled = self._topics[index]
            present = found.in_title if compiled.title_only else hits
            regex_hit = _regex_probe(compiled, found) if compiled.regex else _no_regex
            if _judge(compiled, present, regex_hit, source, tags, why=False) is None:
                matches.append(_to_match(_verdict(compiled, found, source, tags), text))
        return matches

    def explain(
        self, title: str, text: str, *, source: str = "", tags: Sequence[str] = ()
    ) -> list[Verdict]:
        """A verdict for every topic, fired or not, for `monitor explain`."""
        found = self._find(title, text)
        return [_verdict(compiled, found, source, tags) for compiled in self._topics]

    def _find(
        self, title: str, text: str, folded: tuple[MappedText, MappedText] | None = None
    ) -> _Found:
        hits: dict[int, list[Hit]] = {}
        in_title: set[int] = set()
        title_folded, text_folded = folded or (mapped_text(title), mapped_text(text))
        found = _Found(hits, in_title, title_folded, text_folded)
        if self._automaton is not None:
            scan = self._scan_guarded if self._guards else self._scan
            scan("title", found.title, hits, in_title)
            scan("text", found.text, hits, set())
        return found

    def _scan(
        self, field: str, mapped: MappedText, hits: dict[int, list[Hit]], seen: set[int]
    ) -> None:
        """Record the first hit of every pattern in one field (the common, fast path)."""
        assert self._automaton is not None
        normalized = mapped.text
        for pid, start, end in self._automaton.find_matches_as_indexes(
            normalized, overlapping=True
        ):
            if pid in seen:
                continue
            if self._checks_left[pid] and start > 0 and _is_word_char(normalized[start - 1]):
                continue
            if self._checks_right[pid] and end < len(normalized) and _is_word_char(normalized[end]):
                continue
            seen.add(pid)
            hits.setdefault(pid, []).append(_hit(field, mapped, start, end))

    def _scan_guarded(
        self, field: str, mapped: MappedText, hits: dict[int, list[Hit]], seen: set[int]
    ) -> None:
        """`_scan`, plus guarded terms: a hit inside an occurrence of an exception is dropped.

        The exceptions are patterns of the same automaton (overlapping matches report both
        `中美` and `中美洲`), so this stays one pass over the text.
        """
        assert self._automaton is not None
        normalized = mapped.text
        tracked = self._tracked
        spans: dict[int, list[tuple[int, int]]] = {}
        for pid, start, end in self._automaton.find_matches_as_indexes(
            normalized, overlapping=True
        ):
            is_tracked = pid in tracked
            if pid in seen and not is_tracked:
                continue
            if self._checks_left[pid] and start > 0 and _is_word_char(normalized[start - 1]):
                continue
            if self._checks_right[pid] and end < len(normalized) and _is_word_char(normalized[end]):
                continue
            if is_tracked:
                spans.setdefault(pid, []).append((start, end))
            if pid not in seen:
                seen.add(pid)
                hits.setdefault(pid, []).append(_hit(field, mapped, start, end))
        for gid, pid, guards in self._guards:
            if pid not in spans:
                continue
            covered = _Cover([span for g in guards for span in spans.get(g, ())])
            for start, end in spans[pid]:
                if not covered(start, end):
                    seen.add(gid)
                    hits.setdefault(gid, []).append(_hit(field, mapped, start, end))
                    break


MATCHED = "all conditions met"


class _Cover:
    """Is a span inside one of these spans? O(log n) per question after sorting."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        spans.sort()
        self.starts = [start for start, _ in spans]
        self.reach = list(itertools.accumulate((end for _, end in spans), max))

    def __call__(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1  # the spans that start at or before it
        return i >= 0 and self.reach[i] >= end


def _compile_topic(
    topic: Topic, compile_term: Callable[[str, Sequence[str]], _Term]
) -> _CompiledTopic:
    exceptions = dict(topic.exceptions)

    def term(text: str) -> _Term:
        return compile_term(text, exceptions.get(text, ()))

    sources = frozenset(topic.sources) if topic.sources else None
    tags = frozenset(topic.tags) if topic.tags else None
    title_only = "text" not in topic.fields
    groups = tuple(tuple(term(t) for t in group) for group in topic.all)
    any_terms = tuple(term(t) for t in topic.any)
    return _CompiledTopic(
        topic=topic,
        groups=groups,
        any=any_terms,
        none=tuple(term(t) for t in topic.none),
        sources=sources,
        tags=tags,
        title_only=title_only,
        min_hits=topic.min_hits,
        positive=(*(t for g in groups for t in g), *any_terms),
        regex=tuple((p, compile_regex(p)) for p in topic.regex),
    )


def _judge(
    compiled: _CompiledTopic,
    present: Container[int],
    regex_hit: Callable[[int], bool],
    source: str,
    tags: Sequence[str],
    *,
    why: bool,
) -> str | None:
    """The first of the topic's rules the article fails, as the reason; None: the topic fires.

    The one definition of firing, so `monitor explain` cannot disagree with the daemon:
    `match` asks with `why=False` and gets `_FAILS` at the first failing rule, `explain` with
    `why=True` and gets the reason spelled out. `present` holds the pattern ids found in the
    fields the topic reads; `regex_hit(i)` says whether its i-th regex matches, and is asked
    only as far as the verdict needs (RE2 costs more than a set lookup).
    """

    def hit(term: _Term) -> bool:
        return any(pid in present for pid in term.pattern_ids)

    filtered = compiled.admits(source, tags)  # filters first: they cost less than any term
    if filtered is not None:
        return filtered
    if not compiled.positive and not compiled.regex:
        # Config accepts `any = []`; such a topic has nothing that could make it fire.
        return "nothing to look for: no `all` or `any` terms and no regex"
    missing = []
    for i, group in enumerate(compiled.groups):
        if not any(hit(t) for t in group):
            if not why:
                return _FAILS
            missing.append(i)
    if missing:
        names = "; ".join(" / ".join(t.text for t in compiled.groups[i]) for i in missing)
        return f"no hit in all-group {', '.join(str(i + 1) for i in missing)} ({names})"
    regexes = range(len(compiled.regex))
    # A regex counts like one more `any` term.
    if (compiled.any or compiled.regex) and not (
        any(hit(t) for t in compiled.any) or any(regex_hit(i) for i in regexes)
    ):
        return "no hit among any terms" + (" or regex" if compiled.regex else "")
    if compiled.min_hits > 1:
        distinct = _distinct_hits(compiled.positive, hit)
        for i in regexes:
            if distinct >= compiled.min_hits:
                break
            distinct += regex_hit(i)
        if distinct < compiled.min_hits:
            return f"{distinct} distinct terms hit, min_hits is {compiled.min_hits}"
    if any(hit(t) for t in compiled.none):
        return "vetoed by " + ", ".join(t.text for t in compiled.none if hit(t)) if why else _FAILS
    return None


_FAILS = "fails"  # `_judge(why=False)`: some rule failed; which one, nobody asked


def _verdict(compiled: _CompiledTopic, found: _Found, source: str, tags: Sequence[str]) -> Verdict:
    """Every rule's outcome for one topic: the hits of each term and regex, and `_judge`'s
    reason, for `explain` (and for the `Match` of a topic that fires)."""
    title_only = compiled.title_only
    present = found.in_title if title_only else found.hits

    def result(term: _Term) -> TermResult:
        hits = (
            hit
            for pid in term.pattern_ids
            for hit in found.hits.get(pid, ())
            if not title_only or hit.field == "title"
        )
        return TermResult(term.text, tuple(hits))

    regex = tuple(TermResult(text, found.regex_hits(compiled, p)) for text, p in compiled.regex)
    reason = _judge(compiled, present, lambda i: bool(regex[i].hits), source, tags, why=True)
    return Verdict(
        topic=compiled.topic,
        matched=reason is None,
        groups=tuple(tuple(result(t) for t in group) for group in compiled.groups),
        any=tuple(result(t) for t in compiled.any),
        vetoes=tuple(r for r in (result(t) for t in compiled.none) if r.hits),
        reason=MATCHED if reason is None else reason,
        regex=regex,
    )


def _regex_probe(compiled: _CompiledTopic, found: _Found) -> Callable[[int], bool]:
    """`regex_hit` for `_judge` in `match`: each regex searched once, and only if asked."""
    memo: dict[int, bool] = {}

    def regex_hit(i: int) -> bool:
        if i not in memo:
            memo[i] = bool(found.regex_hits(compiled, compiled.regex[i][1], first=True))
        return memo[i]

    return regex_hit


def _no_regex(i: int) -> bool:
    raise AssertionError("a topic without regexes was asked about one")


def _distinct_hits(terms: Sequence[_Term], hit: Callable[[_Term], object]) -> int:
    """Terms that hit, an alias class counted once (its members share their pattern ids)."""
    return len({term.pattern_ids for term in terms if hit(term)})


def _hit(field: str, mapped: MappedText, start: int, end: int) -> Hit:
    first = mapped.to_original(start)
    last = mapped.to_original(end - 1)
    return Hit(field, first, mapped.original[first : last + 1])


def _to_match(verdict: Verdict, text: str) -> Match:
    positive = [r for group in verdict.groups for r in group] + [*verdict.any, *verdict.regex]
    matched = tuple(dict.fromkeys(r.term for r in positive if r.hits))
    all_hits = [hit for r in positive for hit in r.hits]
    found = tuple(dict.fromkeys(hit.found for hit in sorted(all_hits, key=_hit_order)))
    in_text = [hit.start for hit in all_hits if hit.field == "text"]
    return Match(verdict.topic.id, matched, found, snippet(text, min(in_text, default=0)))


def _hit_order(hit: Hit) -> tuple[int, int]:
    return (0 if hit.field == "title" else 1, hit.start)


def snippet(text: str, position: int) -> str:
    """About `SNIPPET_CHARS` characters of the original text around `position`, on one line."""
    start = max(0, position - _SNIPPET_LEAD)
    end = min(len(text), start + SNIPPET_CHARS)
    body = one_line(text[start:end])
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")


def find_warnings(watchlist: Watchlist) -> list[str]:
    """Advice for `monitor check`: terms likely to match more than their author meant."""
    warnings = []
    for topic in watchlist.topics:
        for pattern in topic.regex:
            if compile_regex(pattern).search("") is not None:
                warnings.append(
                    f"topic {topic.id}: regex {pattern!r} can match the empty string, so it "
                    "matches every article (did you mean + instead of *, or a missing term?)"
                )
        terms: Sequence[str] = [*(t for g in topic.all for t in g), *topic.any, *topic.none]
        for term in terms:
            norm = normalize(term)
            if len(norm) == 1 and unicodedata.east_asian_width(norm) in ("W", "F"):
                warnings.append(
                    f"topic {topic.id}: one-character term {term!r} matches inside many words, "
                    "and folds differently alone than inside a phrase"
                )
    return warnings
