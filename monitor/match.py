"""Topic matching: the whole watchlist compiled once into one Aho-Corasick automaton.

Pure: values in, values out. Terms and text get the same normalization (`monitor.text`), so
`俄羅斯` finds `俄罗斯` and `ＮＡＴＯ` finds `NATO`. A term that starts (ends) with a Latin, Greek
or Cyrillic letter or a digit must not touch another such character on that side: `NATO`
matches `NATO秘書長` but not `Donato` (Python's `\\b` treats CJK as word characters and gets
that wrong). Other scripts match as substrings. Alias classes make spellings interchangeable.
Term exceptions are patterns of the same automaton; topic regexes run on RE2 (linear time).
A topic's `query` (`monitor.query`) puts its terms into the same automaton (a wildcard is a
pattern without the right-hand word check) and is judged by `monitor.evaluate` from the hits
(every hit of the terms NEAR measures, the first per field of the others).
The article's source id and tags come in as values (the `sources`/`tags` filters); the clock
never does: muting and alert limits are the pipeline's.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import uuid
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick_rs

from monitor.evaluate import Evaluator, Found, Hit, QueryResult
from monitor.models import Match, Topic, Watchlist
from monitor.query import (
    Node,
    Term,
    near_terms,
    parse,
    positive_terms,
    terms,
)
from monitor.regex import compile_regex
from monitor.text import MappedText, mapped_text, normalize, one_line

__all__ = ["Hit", "Matcher", "QueryResult", "TermResult", "Verdict", "snippet"]

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
    query: QueryResult | None = None  # the query as a tree, each node matched or not
    # The query's positive terms (as written) that hit inside satisfied parts, in query order,
    # with those hits; empty unless the topic fired.
    query_terms: tuple[TermResult, ...] = ()


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
    query: Node | None = None
    query_pids: dict[int, tuple[int, ...]] | None = None  # id(query term) → pattern ids

    @property
    def fields(self) -> tuple[str, ...]:
        return ("title",) if self.title_only else ("title", "text")

    def admits(self, source: str, tags: Sequence[str]) -> str | None:
        """None if the article's source passes the topic's filters, else why not."""
        if self.sources is not None and source not in self.sources:
            return f"source {source or '(none)'} is not among sources"
        if self.tags is not None and self.tags.isdisjoint(tags):
            return f"source {source or '(none)'} has none of the tags"
        return None


def _regex_hits(
    compiled: _CompiledTopic, found: Found, pattern: Any, *, first: bool = False
) -> tuple[Hit, ...]:
    """The first match of a regex in each field the topic reads (`first`: stop at one)."""
    out = []
    for field in compiled.fields:
        mapped = found.mapped(field)
        m = pattern.search(mapped.text)
        if m is not None:
            out.append(found.hit(field, m.start(), max(m.end(), m.start() + 1)))
            if first:
                break
    return tuple(out)


class Matcher:
    """A compiled watchlist. Build once per watchlist version; `match` is then cheap."""

    def __init__(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist
        # Names this compilation: a parse worker compiles the watchlist it is sent once and
        # is later asked for matches by this name (`monitor.prepare`).
        self.version = uuid.uuid4().hex
        self.topics = {topic.id: topic for topic in watchlist.topics}
        alias_of: dict[str, tuple[str, ...]] = {}
        for spellings in watchlist.aliases:
            normalized = tuple(dict.fromkeys(normalize(s) for s in spellings))
            for spelling in normalized:
                alias_of[spelling] = normalized
        # (spelling, wildcard) → id: a wildcard is its own pattern (the automaton reports
        # duplicate spellings once each), without the right-hand word check.
        pattern_index: dict[tuple[str, bool], int] = {}
        # A spelling guarded by exceptions is its own (negative) id: (spelling, exceptions) → id.
        guard_index: dict[tuple[int, tuple[int, ...]], int] = {}

        def pattern(spelling: str, wildcard: bool = False) -> int:
            return pattern_index.setdefault((spelling, wildcard), len(pattern_index))

        def compile_term(term: str, exceptions: Sequence[str]) -> _Term:
            own = normalize(term)
            ids = [pattern(spelling) for spelling in alias_of.get(own, (own,))]
            if exceptions:
                guards = tuple(sorted({pattern(normalize(e)) for e in exceptions}))
                ids = [guard_index.setdefault((pid, guards), ~len(guard_index)) for pid in ids]
            return _Term(term, tuple(ids))

        def query_pids(term: Term) -> tuple[int, ...]:
            own = normalize(term.text)
            if term.wildcard:
                return (pattern(own, True),)
            return tuple(pattern(spelling) for spelling in alias_of.get(own, (own,)))

        self._topics = tuple(
            _compile_topic(topic, compile_term, query_pids) for topic in watchlist.topics
        )
        patterns = [spelling for spelling, _ in pattern_index]
        self._checks_left = [_is_word_char(p[0]) for p in patterns]
        # 0: no check on the right; 1: the word rule; 2: a wildcard, extended to the word's end
        self._right = [
            _EXTEND if wildcard else int(_is_word_char(p[-1])) for p, wildcard in pattern_index
        ]
        self._automaton = (
            ahocorasick_rs.AhoCorasick(patterns, matchkind=ahocorasick_rs.MatchKind.Standard)
            if patterns
            else None
        )
        self._guards = tuple((gid, pid, guards) for (pid, guards), gid in guard_index.items())
        # Which patterns keep every hit in `match`: NEAR's terms (distances) and guarded terms
        # with their exceptions (coverage). The others keep their first hit per field, which is
        # all a boolean needs, and saves the word checks on repeats. `explain` keeps them all.
        keep_all = {p for _, pid, guards in self._guards for p in (pid, *guards)}
        for compiled in self._topics:
            if compiled.query is not None and compiled.query_pids is not None:
                for query_term in near_terms(compiled.query):
                    keep_all.update(compiled.query_pids[id(query_term)])
        self._keep_all = [pid in keep_all for pid in range(len(patterns))]
        self._keep_every = [True] * len(patterns)
        # Only topics with a positive term among the hits can fire: index them by pattern.
        # Guarded ids are negative (~k): they index the list from its end, past the patterns.
        topics_of: list[set[int]] = [set() for _ in range(len(patterns) + len(guard_index))]
        for index, compiled in enumerate(self._topics):
            for term in compiled.positive:
                for pid in term.pattern_ids:
                    topics_of[pid].add(index)
            if compiled.query is not None and compiled.query_pids is not None:
                # A query that holds has a hit of a term under an even number of NOTs
                # (the loader refuses queries true without any hit).
                for query_term in positive_terms(compiled.query):
                    for pid in compiled.query_pids[id(query_term)]:
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
        found = self._find(title, text, self._keep_all, folded)
        hits = found.present()
        topics_of = self._topics_of
        # `_judge` wants a hit among the `all`/`any`/query terms or the regexes: only topics
        # with a term among the hits, or with a regex and no `all`, can fire.
        candidate_set = {t for pid in hits for t in topics_of[pid]}
        if self._regex_topics:
            candidate_set.update(self._regex_topics)
        matches = []
        evaluator = Evaluator(found, {})
        for index in sorted(candidate_set):
            compiled = self._topics[index]
            present = found.in_title if compiled.title_only else hits
            regex_hit = _regex_probe(compiled, found) if compiled.regex else _no_regex
            query_holds = _no_query
            if compiled.query is not None and compiled.query_pids is not None:
                evaluator.pids = compiled.query_pids
                query_holds = functools.partial(evaluator.holds, compiled.query, compiled.fields)
            if _judge(compiled, present, regex_hit, query_holds, source, tags, why=False) is None:
                verdict = _verdict(compiled, found, source, tags, tree=False)
                matches.append(_to_match(verdict, text))
        return matches

    def explain(
        self, title: str, text: str, *, source: str = "", tags: Sequence[str] = ()
    ) -> list[Verdict]:
        """A verdict for every topic, fired or not, for `monitor explain` (every hit kept)."""
        found = self._find(title, text, self._keep_every)
        return [_verdict(compiled, found, source, tags) for compiled in self._topics]

    def _find(
        self,
        title: str,
        text: str,
        keep_all: list[bool],
        folded: tuple[MappedText, MappedText] | None = None,
    ) -> Found:
        found = Found(*(folded or (mapped_text(title), mapped_text(text))))
        if self._automaton is not None:
            scan = self._scan_guarded if self._guards else self._scan
            scan(found.title, found.in_title, keep_all)
            scan(found.text, found.in_text, keep_all)
        return found

    def _scan(
        self, mapped: MappedText, spans: dict[int, list[tuple[int, int]]], keep_all: list[bool]
    ) -> None:
        """Record the hits of every pattern in one field: all of them for the patterns marked
        in `keep_all`, the first for the others (the common, fast path)."""
        assert self._automaton is not None
        normalized = mapped.text
        size = len(normalized)
        left = self._checks_left
        right = self._right
        for pid, start, end in self._automaton.find_matches_as_indexes(
            normalized, overlapping=True
        ):
            found = spans.get(pid)
            if found is not None and not keep_all[pid]:
                continue
            if left[pid] and start > 0 and _is_word_char(normalized[start - 1]):
                continue
            rule = right[pid]
            if rule and end < size and _is_word_char(normalized[end]):
                if rule != _EXTEND:
                    continue
                while end < size and _is_word_char(normalized[end]):
                    end += 1
            if found is None:
                spans[pid] = [(start, end)]
            else:
                found.append((start, end))

    def _scan_guarded(
        self, mapped: MappedText, spans: dict[int, list[tuple[int, int]]], keep_all: list[bool]
    ) -> None:
        """`_scan`, plus guarded terms: a hit inside an occurrence of an exception is dropped.

        The exceptions are patterns of the same automaton (overlapping matches report both
        `中美` and `中美洲`), so this stays one pass over the text.
        """
        self._scan(mapped, spans, keep_all)
        for gid, pid, guards in self._guards:
            if pid not in spans:
                continue
            covered = _Cover([span for g in guards for span in spans.get(g, ())])
            kept = [(start, end) for start, end in spans[pid] if not covered(start, end)]
            if kept:
                spans[gid] = kept


_EXTEND = 2  # `Matcher._right`: a wildcard's hit runs on to the end of its word


def _no_query() -> bool:
    raise AssertionError("a topic without a query was asked about one")


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
    topic: Topic,
    compile_term: Callable[[str, Sequence[str]], _Term],
    query_pids: Callable[[Term], tuple[int, ...]],
) -> _CompiledTopic:
    exceptions = dict(topic.exceptions)

    def term(text: str) -> _Term:
        return compile_term(text, exceptions.get(text, ()))

    sources = frozenset(topic.sources) if topic.sources else None
    tags = frozenset(topic.tags) if topic.tags else None
    title_only = "text" not in topic.fields
    groups = tuple(tuple(term(t) for t in group) for group in topic.all)
    any_terms = tuple(term(t) for t in topic.any)
    query = parse(topic.query) if topic.query is not None else None
    pids = {id(t): query_pids(t) for t in terms(query)} if query is not None else None
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
        query=query,
        query_pids=pids,
    )


def _judge(
    compiled: _CompiledTopic,
    present: Container[int],
    regex_hit: Callable[[int], bool],
    query_holds: Callable[[], bool],
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
    only as far as the verdict needs (RE2 costs more than a set lookup); `query_holds()`
    whether its query is true (`monitor.evaluate`), asked after the cheaper rules.
    """

    def hit(term: _Term) -> bool:
        return any(pid in present for pid in term.pattern_ids)

    filtered = compiled.admits(source, tags)  # filters first: they cost less than any term
    if filtered is not None:
        return filtered
    if not compiled.positive and not compiled.regex and compiled.query is None:
        # Config accepts `any = []`; such a topic has nothing that could make it fire.
        return "nothing to look for: no `all` or `any` terms, no regex and no query"
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
    if compiled.query is not None and not query_holds():
        return "the query does not hold" if why else _FAILS
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


def _verdict(
    compiled: _CompiledTopic, found: Found, source: str, tags: Sequence[str], *, tree: bool = True
) -> Verdict:
    """Every rule's outcome for one topic: the hits of each term and regex, the query's tree
    (`tree`: not needed for a `Match`), and `_judge`'s reason, for `explain` (and for the
    `Match` of a topic that fires)."""
    title_only = compiled.title_only
    present = found.in_title if title_only else found.present()

    def result(term: _Term) -> TermResult:
        """The term's first hit in each field it is looked for in."""
        hits = (
            found.hit(field, *spans[pid][0])
            for pid in term.pattern_ids
            for field in compiled.fields
            if pid in (spans := found.spans(field))
        )
        return TermResult(term.text, tuple(hits))

    regex = tuple(TermResult(text, _regex_hits(compiled, found, p)) for text, p in compiled.regex)
    query = None
    query_holds = _no_query
    if compiled.query is not None and compiled.query_pids is not None:
        evaluator = Evaluator(found, compiled.query_pids)
        query = evaluator.explain(compiled.query, compiled.fields) if tree else None
        query_holds = functools.partial(evaluator.holds, compiled.query, compiled.fields)
    reason = _judge(
        compiled, present, lambda i: bool(regex[i].hits), query_holds, source, tags, why=True
    )
    satisfied: tuple[TermResult, ...] = ()
    if reason is None and compiled.query is not None and compiled.query_pids is not None:
        by_term: dict[str, list[Hit]] = {}
        for leaf in Evaluator(found, compiled.query_pids).satisfied(
            compiled.query, compiled.fields
        ):
            by_term.setdefault(leaf.term.written, []).append(
                found.hit(leaf.field, leaf.start, leaf.end)
            )
        satisfied = tuple(TermResult(term, tuple(hits)) for term, hits in by_term.items())
    return Verdict(
        topic=compiled.topic,
        matched=reason is None,
        groups=tuple(tuple(result(t) for t in group) for group in compiled.groups),
        any=tuple(result(t) for t in compiled.any),
        vetoes=tuple(r for r in (result(t) for t in compiled.none) if r.hits),
        reason=MATCHED if reason is None else reason,
        regex=regex,
        query=query,
        query_terms=satisfied,
    )


def _regex_probe(compiled: _CompiledTopic, found: Found) -> Callable[[int], bool]:
    """`regex_hit` for `_judge` in `match`: each regex searched once, and only if asked."""
    memo: dict[int, bool] = {}

    def regex_hit(i: int) -> bool:
        if i not in memo:
            memo[i] = bool(_regex_hits(compiled, found, compiled.regex[i][1], first=True))
        return memo[i]

    return regex_hit


def _no_regex(i: int) -> bool:
    raise AssertionError("a topic without regexes was asked about one")


def _distinct_hits(terms: Sequence[_Term], hit: Callable[[_Term], object]) -> int:
    """Terms that hit, an alias class counted once (its members share their pattern ids)."""
    return len({term.pattern_ids for term in terms if hit(term)})


def _to_match(verdict: Verdict, text: str) -> Match:
    positive = [r for group in verdict.groups for r in group]
    positive += [*verdict.any, *verdict.regex, *verdict.query_terms]
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
