"""`monitor explain` tells the truth: for any watchlist and article, the topics `Matcher.match`
fires (what the daemon alerts on) are exactly those `Matcher.explain` marks as matched, with
the same matched terms and found spellings.

Watchlists and articles are drawn from one small vocabulary (Traditional and Simplified
Chinese spellings, English words with their word-boundary traps, alias classes, exceptions,
regexes), so that terms really hit, miss, overlap and veto each other. Fixed seed
(derandomize), 200 examples, no deadline, as in tests/hostile/test_properties.py.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.match import Matcher, TermResult, Verdict
from monitor.models import Topic, Watchlist

PROPERTY = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Alias classes are disjoint, as the config requires; a watchlist uses some of them.
ALIASES = (("普京", "普丁", "Putin"), ("北韓", "朝鮮", "朝鲜"), ("俄羅斯", "俄国", "Russia"))
TERMS = (
    "普京", "普丁", "Putin", "北韓", "朝鲜", "俄羅斯", "俄罗斯", "Russia", "中國", "中国", "中美",
    "美洲", "武器", "弹药", "彈藥", "足球", "制裁", "台海", "臺海", "NATO", "nato", "Georgia",
    "missile", "drone", "核武",
)  # fmt: skip
# term → spellings that contain it; a hit of the term inside one of them does not count.
EXCEPTIONS = {
    "中美": ("中美洲",),
    "北韓": ("北韓隊",),
    "足球": ("足球外交",),
    "Georgia": ("Georgia Tech",),
    "NATO": ("NATO summit",),
    "核武": ("核武器",),
}
REGEXES = (r"\d+\s?架無人機", "凍結.{0,4}資產", r"f-\d{2}", "(俄羅斯|烏克蘭)\\s?總統", "制裁")
SOURCES = ("dw-zh", "dw-zh", "rfa", "")
TAGS = ("asia", "europe")
# Article words: every term, its exceptions, and near misses (Donato, Russian, 核武器, ＮＡＴＯ).
WORDS = (
    *TERMS, *(e for spellings in EXCEPTIONS.values() for e in spellings), "中美洲", "Donato",
    "Russian", "ＮＡＴＯ", "俄罗斯总统", "烏克蘭 總統", "300架無人機", "凍結海外資產", "F-16",
    "Georgia Technology", "的", "會談", "表示", "the", "said",
)  # fmt: skip
NOISE = st.sampled_from((" ", "", "，", "。", "\n", "-", "(", ")", "1", "x", "\u3000"))

# Repeats in `sampled_from` weight the draw: most topics should have something to hit, and
# most articles should pass the filters, or little would ever fire.
terms = st.lists(st.sampled_from(TERMS), min_size=0, max_size=3, unique=True).map(tuple)
# An empty `any` only now and then: a topic without all/any/regex is legal but rare.
any_terms = st.tuples(
    st.integers(0, 5), st.lists(st.sampled_from(TERMS), min_size=1, max_size=3, unique=True)
).map(lambda drawn: tuple(drawn[1]) if drawn[0] else ())


@st.composite
def topics(draw: st.DrawFn, index: int) -> Topic:
    groups = tuple(
        draw(st.lists(st.lists(st.sampled_from(TERMS), min_size=1, max_size=2, unique=True)
                      .map(tuple), max_size=2))
    )  # fmt: skip
    any_, none = draw(any_terms), draw(terms)
    used = {t for g in groups for t in g} | set(any_) | set(none)
    guardable = sorted(used & set(EXCEPTIONS))
    guarded = (
        draw(st.lists(st.sampled_from(guardable), max_size=2, unique=True)) if guardable else []
    )
    regex = draw(st.lists(st.sampled_from(REGEXES), max_size=2, unique=True).map(tuple))
    return Topic(
        id=f"t{index}",
        title=f"Topic {index}",
        all=groups,
        any=any_,
        none=none,
        exceptions=tuple((t, EXCEPTIONS[t]) for t in guarded),
        sources=draw(st.sampled_from(((), (), (), ("dw-zh",), ("dw-zh", "rfa")))),
        tags=draw(st.sampled_from(((), (), (), ("asia",)))),
        fields=draw(st.sampled_from((("title", "text"), ("title", "text"), ("title",)))),
        min_hits=draw(st.sampled_from((1, 1, 1, 2, 3))),
        regex=regex,
    )


@st.composite
def watchlists(draw: st.DrawFn) -> Watchlist:
    aliases = tuple(draw(st.lists(st.sampled_from(ALIASES), max_size=3, unique=True)))
    count = draw(st.integers(1, 6))
    return Watchlist(aliases, tuple(draw(topics(i)) for i in range(count)))


@st.composite
def articles(draw: st.DrawFn, watchlist: Watchlist) -> str:
    """Title or text: the watchlist's own words (and alias spellings) are drawn twice as often
    as the rest of the vocabulary, or most topics would just miss (about a third of the
    examples fire a topic, and every rule gets to be the one that stops a topic)."""
    own = sorted(
        {t for topic in watchlist.topics for t in (*(t for g in topic.all for t in g),
                                                   *topic.any, *topic.none)}
        | {s for spellings in watchlist.aliases for s in spellings}
    )  # fmt: skip
    word = st.sampled_from(own or WORDS)
    pieces = st.one_of(word, word, st.sampled_from(WORDS), NOISE)
    return "".join(draw(st.lists(pieces, min_size=2, max_size=20)))


def positive_results(verdict: Verdict) -> list[TermResult]:
    return [*(r for group in verdict.groups for r in group), *verdict.any, *verdict.regex]


@PROPERTY
@given(
    watchlist=watchlists(),
    data=st.data(),
    source=st.sampled_from(SOURCES),
    tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True).map(tuple),
)
def test_match_fires_exactly_the_topics_explain_marks_matched(
    watchlist: Watchlist, data: st.DataObject, source: str, tags: tuple[str, ...]
) -> None:
    title = data.draw(articles(watchlist), label="title")
    text = data.draw(articles(watchlist), label="text")
    m = Matcher(watchlist)
    matches = m.match(title, text, source=source, tags=tags)
    verdicts = m.explain(title, text, source=source, tags=tags)

    assert [x.topic_id for x in matches] == [v.topic.id for v in verdicts if v.matched]
    by_id = {v.topic.id: v for v in verdicts}
    for match in matches:
        positive = positive_results(by_id[match.topic_id])
        assert set(match.matched) == {r.term for r in positive if r.hits}
        assert set(match.found) == {hit.found for r in positive for hit in r.hits}
    for verdict in verdicts:
        # What explain shows must support its own verdict.
        if verdict.matched:
            assert not verdict.vetoes
            assert all(any(r.hits for r in group) for group in verdict.groups)
            assert any(r.hits for r in positive_results(verdict))
