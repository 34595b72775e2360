"""Advice for `monitor check` on a valid watchlist: terms likely to match more than their
author meant (one-character CJK terms, regexes that match the empty string) and queries that
probably do not say what their author meant (lower-case operators, an unquoted spelling of a
multi-word term or alias). Nothing here is needed to match: the matcher never imports it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from monitor.models import Watchlist
from monitor.query import lowercase_operators, parse, terms, word_runs
from monitor.regex import compile_regex
from monitor.text import normalize


def find_warnings(watchlist: Watchlist) -> list[str]:
    """Advice for `monitor check`: terms likely to match more than their author meant, and
    queries that probably do not say what their author meant."""
    warnings = []
    multiword = _multiword_spellings(watchlist)
    for topic in watchlist.topics:
        if topic.query is not None:
            warnings += _query_warnings(topic.id, topic.query, multiword)
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


def _multiword_spellings(watchlist: Watchlist) -> dict[str, str]:
    """Normalized spelling with a space → where it comes from: alias spellings, topic terms
    and quoted query phrases."""
    out: dict[str, str] = {}
    for spellings in watchlist.aliases:
        for spelling in spellings:
            out.setdefault(normalize(spelling), f"a spelling of the alias class {spellings[0]!r}")
    for topic in watchlist.topics:
        written: list[str] = [*(t for g in topic.all for t in g), *topic.any, *topic.none]
        if topic.query is not None:
            written += [t.text for t in terms(parse(topic.query)) if t.quoted]
        for term in written:
            out.setdefault(normalize(term), f"a term of topic {topic.id}")
    return {k: v for k, v in out.items() if " " in k}


def _query_warnings(topic_id: str, query: str, multiword: dict[str, str]) -> list[str]:
    warnings = []
    for word, offset in lowercase_operators(query):
        warnings.append(
            f"topic {topic_id}: query has {word!r} at character {offset + 1}: a term, not an "
            f'operator (operators are upper case: {word.upper()}); write "{word}" to mean the word'
        )
    for run in word_runs(query):
        for size in range(len(run), 1, -1):
            for first in range(len(run) - size + 1):
                spelled = " ".join(word for word, _ in run[first : first + size])
                if (origin := multiword.get(normalize(spelled))) is not None:
                    warnings.append(
                        f"topic {topic_id}: query has {spelled} unquoted at character "
                        f"{run[first][1] + 1}: {size} terms (AND), while {spelled!r} is "
                        f'{origin}; write "{spelled}" for the phrase'
                    )
    return warnings
