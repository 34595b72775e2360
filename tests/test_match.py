"""Matching semantics: each rule of the watchlist section of the README, tested."""

from __future__ import annotations

import time

import pytest

from monitor.advice import find_warnings
from monitor.match import Matcher
from monitor.models import Topic, Watchlist


def matcher(*topics: Topic, aliases: tuple[tuple[str, ...], ...] = ()) -> Matcher:
    return Matcher(Watchlist(aliases=aliases, topics=topics))


def fired(m: Matcher, text: str, title: str = "") -> list[str]:
    return [match.topic_id for match in m.match(title, text)]


def test_all_needs_a_hit_in_every_group() -> None:
    m = matcher(Topic("t", "T", all=(("中國", "北京"), ("俄羅斯", "俄國"))))
    assert fired(m, "北京與俄國會談") == ["t"]
    assert fired(m, "北京與華府會談") == []


def test_any_needs_one_hit_and_none_vetoes() -> None:
    m = matcher(Topic("t", "T", any=("武器", "彈藥"), none=("足球",)))
    assert fired(m, "提供彈藥") == ["t"]
    assert fired(m, "提供糧食") == []
    assert fired(m, "足球隊的武器") == []


def test_all_and_any_together() -> None:
    m = matcher(Topic("t", "T", all=(("中國",),), any=("武器",)))
    assert fired(m, "中國武器") == ["t"]
    assert fired(m, "中國糧食") == []
    assert fired(m, "美國武器") == []


def test_alias_class_members_match_each_other() -> None:
    m = matcher(Topic("putin", "Putin", any=("普京",)),
                aliases=(("普京", "普丁", "蒲亭", "Putin"),))  # fmt: skip
    for spelling in ("普丁訪問北韓", "蒲亭發起", "President Putin said", "普京说"):
        assert fired(m, spelling) == ["putin"], spelling
    match = m.match("", "由蒲亭所發起的軍事行動")[0]
    assert match.matched == ("普京",)
    assert match.found == ("蒲亭",)


def test_a_term_used_in_a_topic_through_any_member_of_its_class() -> None:
    m = matcher(Topic("t", "T", any=("Putin",)), aliases=(("普京", "普丁"),("Putin", "普廷")))  # fmt: skip
    assert fired(m, "普廷談話") == ["t"]
    assert fired(m, "普丁談話") == []


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("NATO", "ＮＡＴＯ秘書長"),  # full-width folds (NFKC)
        ("nato", "NATO allies"),  # case folds
        ("俄羅斯", "俄罗斯总统"),  # Traditional term, Simplified text
        ("俄罗斯", "俄羅斯總統"),  # Simplified term, Traditional text
        ("台海", "臺海局勢"),
        ("臺海", "台海局勢"),
        ("中國,俄國", "中國，俄國"),  # full-width comma folds
    ],
)
def test_normalization_applies_to_terms_and_text_alike(term: str, text: str) -> None:
    assert fired(matcher(Topic("t", "T", any=(term,))), text) == ["t"]


@pytest.mark.parametrize(
    ("term", "text", "hit"),
    [
        ("NATO", "Nato allies met", True),
        ("NATO", "NATO秘書長斯托爾騰貝格", True),
        ("NATO", "北約(NATO)", True),
        ("NATO", "Donato Carrisi", False),
        ("NATO", "NATOs", False),
        ("Russia", "Russian troops", False),
        ("Russia", "Russia's troops", True),
        ("Russia", "俄羅斯Russia軍隊", True),
        ("F-16", "F-16戰機", True),
        ("F-16", "the F-16s", False),
        ("G20", "G20外長會", True),
        ("G20", "G200", False),
        ("G20", "XG20", False),
        ("Путин", "Путина", False),
        ("Путин", "Путин сказал", True),
        ("Ελλάδα", "Ελλάδας", False),
        ("北韓", "北韓領導人", True),  # CJK: substring
        ("核武", "核武器", True),
    ],
)
def test_word_boundaries_for_latin_greek_cyrillic_and_digits(
    term: str, text: str, hit: bool
) -> None:
    assert fired(matcher(Topic("t", "T", any=(term,))), text) == (["t"] if hit else [])


def test_multi_word_terms_match_across_any_white_space() -> None:
    m = matcher(Topic("t", "T", any=("North Korea",)))
    assert fired(m, "North\n   Korea said") == ["t"]
    assert fired(m, "North\u3000Korea") == ["t"]
    assert fired(m, "NorthKorea") == []


def test_title_hits_count() -> None:
    m = matcher(Topic("t", "T", any=("普丁",)))
    match = m.match("普丁時隔24年再訪北韓", "正文沒有提到")[0]
    assert match.found == ("普丁",)


def test_found_keeps_the_articles_script_and_case_and_snippet_shows_the_hit() -> None:
    m = matcher(Topic("t", "T", any=("俄罗斯", "nato")))
    text = "前言。" * 100 + "北約（ＮＡＴＯ）與俄羅斯的關係" + "後記。" * 100
    match = m.match("", text)[0]
    assert set(match.found) == {"ＮＡＴＯ", "俄羅斯"}
    assert set(match.matched) == {"俄罗斯", "nato"}
    assert "北約（ＮＡＴＯ）與俄羅斯的關係" in match.snippet
    assert match.snippet.startswith("…") and match.snippet.endswith("…")
    assert len(match.snippet) <= 202


def test_snippet_is_one_line_without_controls() -> None:
    m = matcher(Topic("t", "T", any=("Putin",)))
    match = m.match("", "Line one\x1b[2J\nPutin\r\nline three")[0]
    assert match.snippet == "Line one Putin line three"


def test_topics_fire_in_watchlist_order_and_only_once() -> None:
    m = matcher(Topic("b", "B", any=("中國", "北京")), Topic("a", "A", any=("北京",)))
    assert fired(m, "北京 北京 中國") == ["b", "a"]


def test_explain_says_why_not() -> None:
    m = matcher(
        Topic("t", "T", all=(("中國",), ("俄羅斯",)), any=("武器",), none=("足球",)),
    )
    (verdict,) = m.explain("", "中國足球武器")
    assert not verdict.matched
    assert "all-group 2" in verdict.reason and "俄羅斯" in verdict.reason
    (verdict,) = m.explain("", "中國俄羅斯足球武器")
    assert verdict.reason == "vetoed by 足球"
    (verdict,) = m.explain("", "中國俄羅斯武器")
    assert verdict.matched


def test_a_topic_with_nothing_to_look_for_never_fires_and_explain_says_so() -> None:
    m = matcher(Topic("t", "T", none=("足球",)))  # the config accepts `any = []`
    assert fired(m, "任何文章") == []
    (verdict,) = m.explain("", "任何文章")
    assert not verdict.matched and verdict.reason.startswith("nothing to look for")


def test_empty_watchlist_matches_nothing() -> None:
    assert matcher().match("title", "text") == []


def test_one_character_cjk_terms_get_a_warning() -> None:
    watchlist = Watchlist((), (Topic("t", "T", any=("核", "核武", "X")),))
    warnings = find_warnings(watchlist)
    assert len(warnings) == 1 and "'核'" in warnings[0]


# --- filters: sources, tags, fields --------------------------------------------------------


def test_sources_and_tags_filter_before_terms_and_narrow_together() -> None:
    m = matcher(
        Topic("by-source", "S", any=("北韓",), sources=("dw-zh", "inbox")),
        Topic("by-tag", "T", any=("北韓",), tags=("asia", "defence")),
        Topic("both", "B", any=("北韓",), sources=("dw-zh",), tags=("asia",)),
        Topic("plain", "P", any=("北韓",)),
    )

    def fired_on(source: str, tags: tuple[str, ...]) -> list[str]:
        return [x.topic_id for x in m.match("", "北韓試射", source=source, tags=tags)]

    assert fired_on("dw-zh", ("asia",)) == ["by-source", "by-tag", "both", "plain"]
    assert fired_on("inbox", ()) == ["by-source", "plain"]
    assert fired_on("rfa", ("defence", "x")) == ["by-tag", "plain"]
    assert fired_on("dw-zh", ("europe",)) == ["by-source", "plain"]
    assert fired_on("", ()) == ["plain"]  # no source given: filtered topics cannot fire


def test_explain_names_the_filter_that_stopped_a_topic() -> None:
    m = matcher(
        Topic("s", "S", any=("北韓",), sources=("dw-zh",)),
        Topic("t", "T", any=("北韓",), tags=("asia",)),
    )
    by_source, by_tag = m.explain("", "北韓試射", source="rfa", tags=("europe",))
    assert not by_source.matched and "source rfa is not among sources" in by_source.reason
    assert not by_tag.matched and "none of the tags" in by_tag.reason
    assert all(v.matched for v in m.explain("", "北韓試射", source="dw-zh", tags=("asia",)))


def test_fields_title_matches_the_title_only_vetoes_included() -> None:
    m = matcher(
        Topic("title", "T", any=("普丁",), none=("足球",), fields=("title",)),
        Topic("both", "B", any=("普丁",)),
    )
    assert fired(m, "正文提到普丁", title="無關標題") == ["both"]
    assert fired(m, "正文", title="普丁訪問北韓") == ["title", "both"]
    assert fired(m, "足球正文", title="普丁訪問北韓") == ["title", "both"]  # text veto: ignored
    assert fired(m, "正文", title="普丁看足球") == ["both"]
    (verdict, _) = m.explain("無關標題", "正文提到普丁")
    assert verdict.reason == "no hit among any terms" and not verdict.any[0].hits


# --- min_hits ------------------------------------------------------------------------------


def test_min_hits_counts_distinct_terms_and_alias_classes_once() -> None:
    m = matcher(
        Topic("t", "T", any=("制裁", "普京", "普丁", "北韓"), min_hits=2),
        aliases=(("普京", "普丁", "Putin"),),
    )
    assert fired(m, "制裁北韓") == ["t"]
    assert fired(m, "普京與普丁與Putin") == []  # one alias class, however many spellings
    assert fired(m, "普丁與北韓") == ["t"]
    assert fired(m, "制裁制裁制裁") == []  # repeats of one term count once
    (verdict,) = m.explain("", "普京與普丁")
    assert verdict.reason == "1 distinct terms hit, min_hits is 2"


def test_min_hits_counts_all_and_any_terms_together() -> None:
    m = matcher(Topic("t", "T", all=(("中國", "北京"),), any=("武器", "彈藥"), min_hits=3))
    assert fired(m, "中國提供武器") == []
    assert fired(m, "中國北京武器") == ["t"]
    assert fired(m, "中國武器彈藥") == ["t"]
    assert fired(m, "北京武器彈藥足球") == ["t"]


# --- term exceptions -----------------------------------------------------------------------


def test_a_hit_inside_an_exception_does_not_count() -> None:
    m = matcher(Topic("t", "T", any=("中美",), exceptions=(("中美", ("中美洲",)),)))
    assert fired(m, "中美洲國家") == []  # Central America
    assert fired(m, "中美會談") == ["t"]
    assert fired(m, "中美洲與中美會談") == ["t"]
    match = m.match("", "中美洲與中美會談")[0]
    assert match.found == ("中美",) and "中美洲與中美會談" in match.snippet
    assert fired(m, "中美洲", title="中美會談") == ["t"]  # per field: the title's hit stands
    assert fired(m, "中美洲", title="中美洲") == []
    assert fired(m, "中美洲國家") == []


def test_exceptions_belong_to_one_topic_and_fold_like_terms() -> None:
    m = matcher(
        Topic("guarded", "G", any=("中美",), exceptions=(("中美", ("中美洲", "南中美")),)),
        Topic("plain", "P", any=("中美",)),
    )
    assert fired(m, "中美洲國家") == ["plain"]
    assert fired(m, "南中美地區") == ["plain"]
    assert fired(m, "中美洲國家與中美關係") == ["guarded", "plain"]


def test_exceptions_guard_every_spelling_they_contain_and_vetoes_too() -> None:
    m = matcher(
        Topic("t", "T", any=("北韓",), none=("足球",),
              exceptions=(("北韓", ("北韓隊",)), ("足球", ("足球外交",)))),
        aliases=(("北韓", "朝鮮"),),
    )  # fmt: skip
    assert fired(m, "北韓隊獲勝") == []
    assert fired(m, "朝鮮隊獲勝") == ["t"]  # 北韓隊 does not contain 朝鮮: list 朝鮮隊 too
    assert fired(m, "北韓發射") == ["t"]
    assert fired(m, "北韓的足球外交") == ["t"]  # the veto's hit sits inside its exception
    assert fired(m, "北韓的足球比賽") == []


def test_latin_exceptions_keep_word_boundaries() -> None:
    m = matcher(Topic("t", "T", any=("Georgia",), exceptions=(("Georgia", ("Georgia Tech",)),)))
    assert fired(m, "Georgia Tech won") == []
    assert fired(m, "Georgia Technology minister") == ["t"]  # "Georgia Tech" is not a word here
    assert fired(m, "Georgia Tech and Georgia") == ["t"]


# --- regex ---------------------------------------------------------------------------------


def test_regex_alone_runs_on_normalized_text_and_reports_what_it_found() -> None:
    m = matcher(Topic("t", "T", regex=(r"f-\d{2}",)))
    match = m.match("", "部署ＦＩ-16與Ｆ-35戰機")[0]  # full-width and upper case fold first
    assert match.matched == (r"f-\d{2}",) and match.found == ("Ｆ-35",)
    assert "Ｆ-35" in match.snippet
    assert fired(m, "沒有戰機") == []


def test_regex_chinese_folds_to_simplified_like_terms() -> None:
    m = matcher(Topic("t", "T", regex=(r"(俄羅斯|烏克蘭)\s?總統",)))
    assert fired(m, "俄罗斯总统表示") == ["t"]
    assert fired(m, "烏克蘭 總統") == ["t"]
    assert fired(m, "俄羅斯外長") == []


def test_regex_is_one_more_any_term() -> None:
    m = matcher(Topic("t", "T", all=(("中國",),), any=("武器",), regex=(r"\d+\s?架無人機",)))
    assert fired(m, "中國提供武器") == ["t"]
    assert fired(m, "中國提供300架無人機") == ["t"]  # the regex satisfies `any`
    assert fired(m, "提供300架無人機") == []  # `all` still applies
    (verdict,) = m.explain("", "中國提供糧食")
    assert verdict.reason == "no hit among any terms or regex"
    m = matcher(Topic("t", "T", all=(("中國",),), regex=(r"\d+架無人機",)))
    assert fired(m, "中國外交") == []  # with `all` only, the regex is the `any` condition


def test_regex_hits_count_towards_min_hits_and_respect_fields_and_vetoes() -> None:
    m = matcher(Topic("t", "T", any=("制裁",), regex=("凍結.{0,4}資產", r"\d+億"), min_hits=2))
    assert fired(m, "美國宣布制裁") == []
    assert fired(m, "美國宣布制裁，凍結其資產") == ["t"]
    assert fired(m, "凍結海外資產50億") == ["t"]  # two regexes, no term
    (verdict,) = m.explain("", "凍結資產")
    assert verdict.reason == "1 distinct terms hit, min_hits is 2"
    m = matcher(Topic("t", "T", regex=("制裁",), none=("足球",), fields=("title",)))
    assert fired(m, "制裁", title="無關") == []
    assert fired(m, "", title="新制裁") == ["t"]
    assert fired(m, "", title="足球制裁") == []


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    m = matcher(Topic("t", "T", regex=("(a+)+$", "(x+x+)+y", "(.*a){12}")))
    text = "a" * 100_000 + "!"
    started = time.perf_counter()
    assert fired(m, text) == ["t"]  # (.*a){12} matches; the others do not, quickly
    assert fired(m, "x" * 100_000) == []
    assert time.perf_counter() - started < 5  # backtracking would take longer than the universe


def test_regex_topics_are_checked_with_an_empty_automaton_too() -> None:
    assert fired(matcher(Topic("t", "T", regex=("abc",))), "xabcx") == ["t"]


def test_a_regex_that_can_match_the_empty_string_gets_a_warning() -> None:
    watchlist = Watchlist((), (Topic("t", "T", regex=(r"\d*億", "x*", "(a|)")),))
    warnings = find_warnings(watchlist)
    assert len(warnings) == 2 and "'x*'" in warnings[0] and "'(a|)'" in warnings[1]
    assert "empty string" in warnings[0]


def test_several_guarded_terms_each_find_their_own_topics() -> None:
    m = matcher(
        Topic("a", "A", any=("中美",), exceptions=(("中美", ("中美洲",)),)),
        Topic("b", "B", any=("北韓",), exceptions=(("北韓", ("北韓隊",)),)),
        Topic("c", "C", any=("美洲",)),
    )
    assert fired(m, "中美會談") == ["a"]
    assert fired(m, "北韓試射") == ["b"]
    assert fired(m, "中美洲與北韓隊") == ["c"]
    assert fired(m, "中美洲的北韓與中美") == ["a", "b", "c"]
