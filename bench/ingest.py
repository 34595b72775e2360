"""Ingest benchmark: articles/s through parse + hash + match (`extract` then `Matcher.match`).

Measures, on one core and in one process, the per-article cost of the pipeline's pure part:
`monitor.extract.extract` (decode, HTML → text, content hash) followed by `Matcher.match`, with
the default watchlist (config/watchlist.toml) and with a generated watchlist of 10,000 Chinese
and English terms. Also reports each stage alone (ms/article) and the 10k matcher build time.

The workload is the five seed articles (seeds/), each turned into many unique variants up front
(a numbered sentence in the title and body), so that `monitor.text.mapped_text`'s cache cannot
serve one article's folding to another. Only extract and match are timed.

Run from the repository root:

    .venv/bin/python bench/ingest.py                       # defaults: 1,000 articles, 5 rounds
    .venv/bin/python bench/ingest.py --articles 2000 --rounds 3
    .venv/bin/python bench/ingest.py --profile             # plus a cProfile of the 10k pipeline
    .venv/bin/python bench/ingest.py --queries             # 1,000 queries vs the same `any` terms

Target (issue): ≥ 400 articles/s on one core with 10,000 terms. `--queries` (issue 14): the
1,000 generated queries at ≥ 90 % of the articles/s of the same terms as `any` lists.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.config import load_watchlist
from monitor.extract import extract
from monitor.match import Matcher
from monitor.models import Article, RawItem, Topic, Watchlist
from monitor.query import quoted
from monitor.text import normalize

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DEFAULT_WATCHLIST = ROOT / "config" / "watchlist.toml"
END_MARKERS = ("參考新聞來源", "編輯推薦")  # as in config/monitor.toml
TARGET_PER_SECOND = 400
QUERY_TARGET = 0.90  # --queries: the query workload's rate next to the same terms as `any`
GENERATED_TERMS = 10_000
GENERATED_TOPICS = 500
SEED = 20240601

# Sentences appended to each variant (with its number), so variants differ in more than a digit.
FILLERS = (
    "本台記者持續關注事態發展",
    "外交部發言人表示將保持密切溝通",
    "分析人士認為局勢仍存在不確定性",
    "The ministry declined to comment on the report",
    "更多細節將在稍後公布",
    "官員說相關談判預計下週恢復",
)

# Real words from the seed texts, so that the generated watchlist does real work on them.
SEED_TERMS_ZH = (
    "俄羅斯", "中國", "北韓", "核武", "美國", "烏克蘭", "北約", "武器", "彈藥", "軍演",
    "外交部", "拉夫羅夫", "金正恩", "核武庫", "防長", "制裁", "莫斯科", "聯合國", "習近平",
    "軍費", "核會談", "情資", "國防部", "高超音速", "獨裁聯盟",
)  # fmt: skip
SEED_TERMS_EN = ("Sergey Lavrov", "NBC", "SIPRI", "American Enterprise Institute", "Zack Cooper")

# Common characters (mostly Traditional forms, some Simplified) for random 2–4 character terms.
CJK_POOL = (
    "的一是不了人我在有他這中大來上國個到說們為子和你地出道也時年得就那要下以生會自著去之過家"
    "學對可她裡後小麼心多天而能好都然沒日於起還發成事只作當想看文無開手十用主行方又如前所本見經"
    "頭面公同三已老從動兩長知民樣現分將外但身些與高意進把法此實回二理美點月明其種聲全工己話兒者"
    "向情部正名定女問力機給等幾很業最間新什打便位因重被走電四第門相次東政海口使教西再平真聽世氣"
    "信北少關並內加化由卻代軍產入先山五太水萬市眼體別處總才場師書比住員九笑性通目華報立馬命張活"
    "難神數件安表原車白應路期叫死常提感金何更反合放做系計或司利受光王果親界及今京務制解各任至清"
    "物台象記邊共風戰干接它許八特覺望直服毛林題建南度統色字請交愛讓認算論百吃義科怎元社術結六功"
    "指思非流每青管夫連遠資隊跟帶花快條院變聯言權往展該領傳近留紅治決周保達辦運武半候七必城父強"
    "步完革深區即求品士轉量空甚眾技輕程告江語英基派滿式李息寫呢識極令黃德收臉錢黨倒未持取設始版"
    "雙歷越史商千片容研像找友孩站廣改議形委早房音火際則首單據導影失拿網香似斯專石若兵弟誰校讀志"
    "飛觀爭究包組造落視濟喜離壞险经济发展会议选举边境协议导弹贸易"
)
# News vocabulary for English single words and two-word phrases.
EN_WORDS = (
    "election", "border", "security", "nuclear", "missile", "sanctions", "trade", "tariff",
    "minister", "president", "parliament", "ceasefire", "treaty", "summit", "embassy", "army",
    "navy", "drone", "artillery", "refugee", "inflation", "currency", "bank", "energy", "oil",
    "gas", "pipeline", "grain", "export", "import", "protest", "strike", "court", "verdict",
    "police", "arrest", "espionage", "cyber", "attack", "hacker", "satellite", "launch", "rocket",
    "vaccine", "virus", "outbreak", "earthquake", "flood", "typhoon", "wildfire", "climate",
    "emissions", "coal", "solar", "battery", "chip", "semiconductor", "factory", "supply",
    "shipping", "port", "strait", "island", "coast", "guard", "fleet", "carrier", "exercise",
    "drill", "alliance", "coalition", "opposition", "reform", "budget", "deficit", "debt", "bond",
    "market", "stock", "investor", "merger", "lawsuit", "regulator", "privacy", "censorship",
    "media", "journalist", "dissident", "prisoner", "hostage", "negotiation", "envoy", "diplomat",
    "delegation", "talks", "agreement", "deal", "veto", "resolution", "council", "assembly",
    "governor", "mayor", "senate", "congress", "campaign", "ballot", "referendum", "poll",
    "scandal", "corruption", "bribery", "investigation", "indictment", "extradition", "asylum",
    "migration", "visa", "passport", "customs", "smuggling", "narcotics", "weapons", "ammunition",
    "warheads", "uranium", "enrichment", "reactor", "inspection", "monitoring", "intelligence",
    "surveillance", "radar", "submarine", "frigate", "destroyer", "fighter", "bomber", "airbase",
    "airspace", "incursion", "blockade", "invasion", "occupation", "annexation", "offensive",
    "counteroffensive", "frontline", "casualties", "civilians", "humanitarian", "aid", "relief",
    "reconstruction", "infrastructure", "railway", "highway", "bridge", "dam", "grid", "blackout",
    "shortage", "rationing", "famine", "drought", "harvest", "fertilizer", "wheat", "rice",
    "soybean", "pork", "beef", "fishing", "whaling", "mining", "lithium", "rare", "earth",
    "copper", "steel", "aluminium", "automaker", "electric", "vehicle", "robot", "artificial",
    "intelligence", "quantum", "telecom", "network", "cable", "undersea", "data", "cloud",
    "platform", "social", "algorithm", "startup", "unicorn", "layoffs", "unemployment", "wages",
    "pension", "housing", "property", "developer", "default", "bailout", "stimulus", "growth",
    "recession", "exports", "yuan", "dollar", "euro", "yen", "rouble", "sovereign", "fund",
)  # fmt: skip


def make_items(count: int) -> list[RawItem]:
    """`count` unique variants of the seed articles (round robin), built before any timing."""
    seeds = [path.read_bytes().decode("utf-8") for path in sorted(SEEDS.glob("*.txt"))]
    if not seeds:
        sys.exit(f"no seed articles in {SEEDS}")
    fetched_at = datetime(2024, 6, 1, tzinfo=UTC)
    items = []
    for i in range(count):
        raw = _variant(seeds[i % len(seeds)], i)
        items.append(
            RawItem(
                source="bench",
                location=f"{i:06d}.txt",
                content=raw.encode("utf-8"),
                content_type="text/plain",  # what the folder source says for *.txt
                fetched_at=fetched_at,
                meta={"end_markers": END_MARKERS},
            )
        )
    return items


def _variant(raw: str, i: int) -> str:
    """Put a numbered sentence into the title and the body of one seed article."""
    tag = f"第{i}號"
    sentence = f"{tag}：{FILLERS[i % len(FILLERS)]}，編號{i * 7919 % 100_003}。"
    if raw.startswith("<!--"):  # captured feed item: "[title](url)" line, then the item's HTML
        head, sep, body = raw.partition("\n------")
        title_end = head.index("](")
        head = f"{head[:title_end]}（{tag}）{head[title_end:]}"
        at = body.find("<p>")
        at = at if at >= 0 else len(body)
        return f"{head}{sep}{body[:at]}<p>{sentence}</p>{body[at:]}"
    # Plain text: the title is the first sentence, so the tag goes in front of it.
    first, sep, rest = raw.partition("\n\n")
    return f"（{tag}）{first}{sep or chr(10) * 2}{sentence}\n\n{rest}"


def generated_terms(rng: random.Random) -> tuple[list[str], list[str]]:
    """10,000 distinct terms: ≈60 % Chinese of 2–4 characters, ≈40 % English (Chinese, English)."""
    seen: set[str] = set()
    chinese: list[str] = []
    english: list[str] = []

    def add(term: str, into: list[str]) -> None:
        key = normalize(term)
        if key not in seen:
            seen.add(key)
            into.append(term)

    for term in SEED_TERMS_ZH:
        add(term, chinese)
    for term in SEED_TERMS_EN:
        add(term, english)
    pool = "".join(dict.fromkeys(CJK_POOL))
    n_chinese = GENERATED_TERMS * 6 // 10
    while len(chinese) < n_chinese:
        length = rng.choices((2, 3, 4), weights=(40, 35, 25))[0]
        add("".join(rng.choice(pool) for _ in range(length)), chinese)
    for word in EN_WORDS:
        if rng.random() < 0.5:
            add(word.capitalize() if rng.random() < 0.2 else word, english)
    while len(chinese) + len(english) < GENERATED_TERMS:
        add(f"{rng.choice(EN_WORDS)} {rng.choice(EN_WORDS)}", english)
    return chinese, english


def generated_watchlist(aliases: tuple[tuple[str, ...], ...]) -> Watchlist:
    """The 10,000 generated terms in 500 topics of `all`, `any` and `none`."""
    rng = random.Random(SEED)
    chinese, english = generated_terms(rng)
    seed_terms = [t for t in (*chinese, *english) if t in (*SEED_TERMS_ZH, *SEED_TERMS_EN)]
    others = [t for t in (*chinese, *english) if t not in seed_terms]
    rng.shuffle(others)
    per_topic = GENERATED_TERMS // GENERATED_TOPICS
    topics = []
    for index in range(GENERATED_TOPICS):
        # The first topics each get one or two real seed words, so some of them fire.
        own = seed_terms[index * 2 : index * 2 + 2]
        while len(own) < per_topic:
            own.append(others.pop())
        if index % 4 == 1:  # a quarter of the topics: two all-groups of three terms, 14 any
            all_groups = (tuple(own[0:6:2]), tuple(own[1:6:2]))
            any_terms, none_terms = tuple(own[6:]), ()
        elif index % 10 == 3:  # some topics: one veto term
            all_groups, any_terms, none_terms = (), tuple(own[:-1]), (own[-1],)
        else:
            all_groups, any_terms, none_terms = (), tuple(own), ()
        topics.append(
            Topic(
                id=f"gen-{index:03d}",
                title=f"Generated topic {index}",
                all=all_groups,
                any=any_terms,
                none=none_terms,
            )
        )
    assert not others, "terms left over"
    return Watchlist(aliases=aliases, topics=tuple(topics))


def generated_queries(aliases: tuple[tuple[str, ...], ...]) -> tuple[Watchlist, Watchlist]:
    """The issue's query workload, and the same terms as `any` lists (same topics, same order).

    1,000 queries over the 10,000 generated terms, 10 each: two OR-groups of 5 joined by AND;
    every fourth query joins them by NEAR/10 instead; every tenth adds `AND NOT t`, t one of
    the 10,000 terms that belongs to another query (drawn with the same seed). The `any` twin
    of each topic lists its own 10 terms, so both workloads hold the same 10,000 terms.
    """
    rng = random.Random(SEED + 1)
    chinese, english = generated_terms(rng)
    terms = [*chinese, *english]
    rng.shuffle(terms)
    count = len(terms) // 10
    query_topics, any_topics = [], []
    for index in range(count):
        own = terms[index * 10 : index * 10 + 10]
        written = [quoted(t) or t for t in own]
        join = "NEAR/10" if index % 4 == 3 else "AND"
        query = f"({' OR '.join(written[:5])}) {join} ({' OR '.join(written[5:])})"
        if index % 10 == 9:
            other = (index + rng.randrange(1, count)) % count  # any query but this one
            veto = terms[other * 10 + rng.randrange(10)]
            query += f" AND NOT {quoted(veto) or veto}"
        topic_id = f"q-{index:04d}"
        query_topics.append(Topic(id=topic_id, title=topic_id, query=query))
        any_topics.append(Topic(id=topic_id, title=topic_id, any=tuple(own)))
    return (
        Watchlist(aliases=aliases, topics=tuple(query_topics)),
        Watchlist(aliases=aliases, topics=tuple(any_topics)),
    )


def compare_queries(articles: Sequence[Article], rounds: int, aliases: Any) -> None:
    """`--queries`: articles/s of the query workload next to the same terms as `any` lists,
    interleaved round by round on the same articles; wall and CPU time (a busy machine
    disturbs the wall clock more than the CPU clock)."""
    query_wl, any_wl = generated_queries(aliases)
    matchers = {"queries": Matcher(query_wl), "any lists": Matcher(any_wl)}
    fired = {
        name: sum(len(m.match(a.title, a.text)) for a in articles) / len(articles)
        for name, m in matchers.items()
    }
    wall: dict[str, list[float]] = {name: [] for name in matchers}
    cpu: dict[str, list[float]] = {name: [] for name in matchers}
    for _ in range(rounds):
        for name, matcher in matchers.items():
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            run_match(matcher, articles)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    n = len(articles)
    print(
        f"queries: {len(query_wl.topics)} topics over {count_terms(any_wl)} terms "
        f"(two OR-groups of 5; every 4th NEAR/10; every 10th AND NOT), {n} articles, "
        f"{rounds} rounds interleaved, match only (cold fold), median"
    )
    print(f"{'workload':<12}{'topics fired/art':>18}{'articles/s':>12}{'CPU ms/art':>12}")
    rate = {}
    for name in matchers:
        rate[name] = n / statistics.median(wall[name])
        cpu_ms = statistics.median(cpu[name]) / n * 1000
        print(f"{name:<12}{fired[name]:>18.2f}{rate[name]:>12.0f}{cpu_ms:>12.3f}")
    share = rate["queries"] / rate["any lists"]
    cpu_share = statistics.median(cpu["any lists"]) / statistics.median(cpu["queries"])
    verdict = "PASS" if share >= QUERY_TARGET else "FAIL"
    print(
        f"target: queries ≥ {QUERY_TARGET:.0%} of the any-list rate: {share:.0%} by wall clock "
        f"({cpu_share:.0%} by CPU time), {verdict}"
    )


def count_terms(watchlist: Watchlist) -> int:
    return sum(len(t.any) + len(t.none) + sum(len(g) for g in t.all) for t in watchlist.topics)


def timed(run: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def run_extract(items: Sequence[RawItem]) -> None:
    for item in items:
        extract(item)


def run_match(matcher: Matcher, articles: Sequence[Article]) -> None:
    match = matcher.match
    for article in articles:
        match(article.title, article.text, source=article.source)


def run_pipeline(matcher: Matcher, items: Sequence[RawItem]) -> None:
    match = matcher.match
    for item in items:
        article = extract(item)
        match(article.title, article.text, source=article.source)


def pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--articles", type=int, default=1000, help="articles per round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one 10k-term pipeline round"
    )
    parser.add_argument(
        "--queries",
        action="store_true",
        help="only the query workload next to the same terms as `any` lists (match only)",
    )
    args = parser.parse_args(argv)
    if args.articles < 50 or args.rounds < 1:
        parser.error("--articles must be ≥ 50 (the text cache holds 16) and --rounds ≥ 1")

    pinned = pin_to_one_core()
    items = make_items(args.articles)
    default_wl = load_watchlist(DEFAULT_WATCHLIST)

    # Untimed warm-up and checks: OpenCC tables loaded, variants unique, matching does work.
    articles = [extract(item) for item in items]
    if len({a.content_hash for a in articles}) != len(articles):
        sys.exit("article variants are not unique: the benchmark would measure the cache")
    if args.queries:
        print(f"monitor ingest benchmark --queries; {pinned}")
        compare_queries(articles, args.rounds, default_wl.aliases)
        return 0
    generated_wl = generated_watchlist(default_wl.aliases)
    build_times = []
    for _ in range(max(3, args.rounds)):
        gc.collect()
        start = time.perf_counter()
        generated = Matcher(generated_wl)
        build_times.append(time.perf_counter() - start)
    default = Matcher(default_wl)
    default_build = timed(lambda: Matcher(default_wl))
    watchlists = {"default": (default_wl, default), "10k": (generated_wl, generated)}
    fired = {
        name: sum(len(m.match(a.title, a.text)) for a in articles) / len(articles)
        for name, (_, m) in watchlists.items()
    }

    samples: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        # Per round, each pass once; passes are long (N articles) next to the 16-entry cache,
        # so "match only" folds every text afresh, as a matcher without that cache would.
        samples.setdefault("extract", []).append(timed(lambda: run_extract(items)))
        for name, (_, matcher) in watchlists.items():
            key = f"match {name}"
            samples.setdefault(key, []).append(timed(lambda m=matcher: run_match(m, articles)))
        for name, (_, matcher) in watchlists.items():
            key = f"pipeline {name}"
            samples.setdefault(key, []).append(timed(lambda m=matcher: run_pipeline(m, items)))

    n = args.articles
    ms = {key: statistics.median(values) / n * 1000 for key, values in samples.items()}
    spread = {key: (min(v) / n * 1000, max(v) / n * 1000) for key, v in samples.items()}

    print("monitor ingest benchmark: extract (parse + hash) + match, one process, one core")
    print(
        f"python {platform.python_version()} on {platform.machine()}, {pinned}; "
        f"{n} unique articles/round from {len(list(SEEDS.glob('*.txt')))} seeds, "
        f"{args.rounds} rounds, median (min–max)"
    )
    print()
    print(f"{'watchlist':<12}{'topics':>8}{'terms':>8}{'build ms':>10}{'topics fired/art':>18}")
    default_terms = count_terms(default_wl)
    print(
        f"{'default':<12}{len(default_wl.topics):>8}{default_terms:>8}"
        f"{default_build * 1000:>10.1f}{fired['default']:>18.2f}"
    )
    print(
        f"{'10k':<12}{len(generated_wl.topics):>8}{count_terms(generated_wl):>8}"
        f"{statistics.median(build_times) * 1000:>10.1f}{fired['10k']:>18.2f}"
    )
    print()
    print(f"{'stage':<34}{'ms/article':>12}{'(min–max)':>18}{'articles/s':>13}")
    rows = (
        ("extract only (decode+parse+hash)", "extract"),
        ("match only, default (cold fold)", "match default"),
        ("match only, 10k (cold fold)", "match 10k"),
        ("extract + match, default", "pipeline default"),
        ("extract + match, 10k terms", "pipeline 10k"),
    )
    for label, key in rows:
        low, high = spread[key]
        print(f"{label:<34}{ms[key]:>12.3f}{f'({low:.3f}–{high:.3f})':>18}{1000 / ms[key]:>13.0f}")
    print()
    for name in ("default", "10k"):
        extra = ms[f"pipeline {name}"] - ms["extract"]
        print(f"match share of the pipeline, {name}: {extra:.3f} ms/article (pipeline − extract)")
    rate = 1000 / ms["pipeline 10k"]
    verdict = "PASS" if rate >= TARGET_PER_SECOND else "FAIL"
    print(f"target ≥ {TARGET_PER_SECOND} articles/s with 10k terms: {rate:.0f}/s, {verdict}")

    if args.profile:
        print("\ncProfile of one extract + match round with 10k terms:")
        profiler = cProfile.Profile()
        profiler.runcall(run_pipeline, generated, items)
        stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
        stats.sort_stats("cumulative").print_stats(15)
        stats.sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
