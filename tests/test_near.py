"""Near-duplicate stories: the signature (pure), the rule in the ingest path (through the app,
on SQLite and PostgreSQL), and the race between two transactions on PostgreSQL."""

from __future__ import annotations

import json
import pickle
import random
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import opencc
import pytest

from monitor.app import App, make_app
from monitor.config import load_config
from monitor.extract import extract
from monitor.models import Article, RawItem
from monitor.near import NearCheck, signature, similarity, story_id
from monitor.store import Store
from tests.conftest import SEEDS, Clock
from tests.fakes import RecordingNotifier
from tests.near_reference import reference_signature

PUTIN = SEEDS / "004_afff801dc2e45540.txt"
NEAR_SET = Path(__file__).parent / "data" / "near"
T2S = opencc.OpenCC("t2s").convert


def putin_paragraphs() -> list[str]:
    """The paragraphs of the Putin seed's article text, as the extractor finds them."""
    item = RawItem("s", PUTIN.name, PUTIN.read_bytes(), "text/plain", datetime.now(UTC))
    return [line for line in extract(item).text.splitlines() if line.strip()]


def text_of(paragraphs: list[str]) -> str:
    return "\n".join(paragraphs)


# --- the signature ---------------------------------------------------------------------


def test_a_trimmed_converted_or_wrapped_copy_is_similar_and_another_story_is_not() -> None:
    body = putin_paragraphs()
    original = signature(text_of(body))
    assert original is not None
    trimmed = signature(text_of(body[:7]))
    mainland = signature(T2S(text_of(body)).replace("普丁", "普京"))
    wired = signature(text_of(["（中央社台北18日綜合外電報導）", *body, "（編輯：王小明）"]))
    other = signature((SEEDS / "000_e111a6c8e310c3f6.txt").read_text(encoding="utf-8"))
    assert trimmed and mainland and wired and other
    assert similarity(original, trimmed) >= 0.8  # containment of the shorter
    assert similarity(original, mainland) >= 0.8
    assert similarity(original, wired) >= 0.9
    assert similarity(original, other) < 0.3


def test_short_texts_have_no_signature() -> None:
    assert signature("普丁訪問北韓。") is None  # under 40 characters
    assert signature("北韓試射導彈。" * 10) is None  # long, but only a few distinct shingles


GOLDEN = (
    "The quick brown fox jumps over the lazy dog near the riverbank while the farmer "
    "watches from his porch and the children of the village run down the hill to see "
    "what the noise was about. 普丁時隔24年再訪北韓，北約關切獨裁聯盟。"
)


def test_the_signature_is_stable_across_processes_and_releases() -> None:
    """Stored signatures must compare with tomorrow's: this pins the hash of a tuple of ints
    (CPython's xxHash-based tuple hash) and the token ids (BLAKE2b)."""
    sig = signature(GOLDEN)
    assert sig is not None
    assert sig.shingles == 52
    assert sig.bins[:4] == (3470035948, 2079560165, 4275462957, 2173422920)
    assert sig.band_keys()[0] == 571591663
    assert reference_signature(GOLDEN) == sig  # the definition in plain Python agrees


def _random_text(rng: random.Random) -> str:
    """Mixed scripts in runs, with what tokenization must get right: digits inside CJK,
    accented and Cyrillic letters, underscores (not letters), non-BMP letters (CJK
    extension B: a run, not an ideograph token) and emoji (dropped). (No lone surrogates:
    extraction replaces them, and the normalization before the signature cannot take them.)"""
    pools = [
        "普丁北韓訪問峰会美國總統記者台北報導中央社的了是在和",  # ideographs
        "ひらがなカタカナ한국어",  # kana and hangul: one token per character too
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "éüñçßøåæœ",
        "абвгдежзиклмнопрст",
        "_-.,;:!?()[]「」，。、！？“”  \n\t",
        "\U00020000\U00020001\U0002a700\U0001d400",  # word characters outside the BMP
        "\U0001f600\U0001f680\u200b\u0301",  # emoji, a zero-width space, a combining accent
    ]
    parts = []
    for _ in range(rng.randint(5, 60)):
        pool = rng.choices(pools, weights=[8, 1, 4, 1, 1, 4, 1, 1])[0]
        parts.append("".join(rng.choices(pool, k=rng.randint(1, 30))))
    return "".join(parts)


def test_the_array_signature_equals_the_definition_in_plain_python() -> None:
    """`monitor.shingles` recomputes CPython's tuple hash over numpy arrays and classifies
    characters by table: on any text it must give exactly the plain-Python signature, or
    stored signatures would stop matching new ones."""
    rng = random.Random(13)
    texts = [_random_text(rng) for _ in range(400)]
    texts += [p.read_text(encoding="utf-8") for p in sorted(NEAR_SET.glob("*/*.txt"))]
    signed = 0
    for text in texts:
        expected = reference_signature(text)
        assert signature(text) == expected, text[:120]
        signed += expected is not None
    assert signed > 300  # most texts were long enough to be compared, not just None == None


def test_story_id_is_derived_from_the_root_content_hash() -> None:
    assert story_id("v1:" + "0" * 64) == story_id("v1:" + "0" * 64)
    assert story_id("v1:" + "0" * 64).startswith("story_") and len(story_id("v1:0")) == 38


# --- the rule, through the app -----------------------------------------------------------

PUTIN_TOPICS = """
[aliases]
"普京" = ["普丁"]

[[topics]]
id = "putin"
any = ["普京"]

[[topics]]
id = "nato"
any = ["北約"]

[[topics]]
id = "loud"
any = ["普京"]
near_duplicates = "alert"
"""


@pytest.fixture
def make(workdir: Path, clock: Clock, database_env: dict[str, str]) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def build(recorder: RecordingNotifier, config_extra: str = "") -> App:
        toml = workdir / "monitor.toml"
        if config_extra and config_extra not in toml.read_text(encoding="utf-8"):
            toml.write_text(toml.read_text(encoding="utf-8") + config_extra, encoding="utf-8")
        settings = load_config(toml, env=database_env)
        app = make_app(settings, now=clock, notifiers={"rec": recorder})
        app.start()
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def sent(recorder: RecordingNotifier) -> list[tuple[str, str]]:
    return sorted((d.alert.article.location, d.alert.topic.id) for d, _ in recorder.sent)


def test_copies_alert_once_per_topic_and_a_topic_that_asks_alerts_again(
    workdir: Path, make: Callable[..., App], clock: Clock
) -> None:
    (workdir / "watchlist.toml").write_text(PUTIN_TOPICS, encoding="utf-8")
    body = putin_paragraphs()
    recorder = RecordingNotifier("rec")
    app = make(recorder)
    (workdir / "inbox" / "a-dw.txt").write_text(text_of(body), encoding="utf-8")
    first = app.run_once()
    assert first.ingest.alerts == 3
    clock.advance(hours=2)
    # A mainland copy without the NATO paragraphs: only `loud` alerts again.
    (workdir / "inbox" / "b-mainland.txt").write_text(
        T2S(text_of(body[:4])).replace("普丁", "普京"), encoding="utf-8"
    )
    second = app.run_once()
    assert (second.ingest.new, second.ingest.near, second.ingest.alerts) == (1, 1, 1)
    assert second.ingest.suppressed == 1
    assert sent(recorder) == [
        ("a-dw.txt", "loud"), ("a-dw.txt", "nato"), ("a-dw.txt", "putin"),
        ("b-mainland.txt", "loud"),
    ]  # fmt: skip
    metrics = app.metrics.render().decode()
    assert 'monitor_near_duplicates_total{topic="putin"} 1.0' in metrics
    # Every article is in a story; the copy is in the root's.
    (story,) = app.store.stories(clock.now - timedelta(days=1))
    assert [c.source for c in story.copies] == ["inbox", "inbox"]
    assert story.id == story_id(story.copies[0].content_hash)
    assert story.topics == ("loud", "nato", "putin")


def test_two_copies_in_one_run_alert_once(workdir: Path, make: Callable[..., App]) -> None:
    (workdir / "watchlist.toml").write_text(PUTIN_TOPICS, encoding="utf-8")
    body = putin_paragraphs()
    for n, lead in enumerate(["（中央社）", "（本報訊）", "（綜合報導）"]):
        (workdir / "inbox" / f"{n}.txt").write_text(text_of([lead, *body]), encoding="utf-8")
    recorder = RecordingNotifier("rec")
    report = make(recorder).run_once()
    assert (report.ingest.new, report.ingest.near) == (3, 2)
    assert [t for _, t in sent(recorder)].count("putin") == 1
    assert [t for _, t in sent(recorder)].count("loud") == 3


def test_a_copy_matching_a_topic_its_story_did_not_match_alerts_for_it(
    workdir: Path, make: Callable[..., App], clock: Clock
) -> None:
    (workdir / "watchlist.toml").write_text(PUTIN_TOPICS, encoding="utf-8")
    body = putin_paragraphs()
    recorder = RecordingNotifier("rec")
    app = make(recorder)
    no_nato = [p for p in body if "北約" not in p]
    (workdir / "inbox" / "a.txt").write_text(text_of(no_nato), encoding="utf-8")
    app.run_once()
    clock.advance(minutes=5)
    (workdir / "inbox" / "b.txt").write_text(text_of([*no_nato, body[4]]), encoding="utf-8")
    report = app.run_once()
    assert report.ingest.near == 1
    assert [(loc, t) for loc, t in sent(recorder) if loc == "b.txt"] == [
        ("b.txt", "loud"), ("b.txt", "nato"),
    ]  # fmt: skip


def test_outside_the_window_or_with_near_off_a_copy_alerts_again(
    workdir: Path, make: Callable[..., App], clock: Clock
) -> None:
    (workdir / "watchlist.toml").write_text(PUTIN_TOPICS, encoding="utf-8")
    body = putin_paragraphs()
    recorder = RecordingNotifier("rec")
    app = make(recorder, '\n[dedupe]\nwindow = "1d"\n')
    (workdir / "inbox" / "a.txt").write_text(text_of(body), encoding="utf-8")
    app.run_once()
    clock.advance(days=2)
    (workdir / "inbox" / "b.txt").write_text(text_of(["（本報訊）", *body]), encoding="utf-8")
    report = app.run_once()
    assert (report.ingest.near, report.ingest.alerts) == (0, 3)


def test_near_false_turns_detection_off(workdir: Path, make: Callable[..., App]) -> None:
    (workdir / "watchlist.toml").write_text(PUTIN_TOPICS, encoding="utf-8")
    body = putin_paragraphs()
    (workdir / "inbox" / "a.txt").write_text(text_of(body), encoding="utf-8")
    (workdir / "inbox" / "b.txt").write_text(text_of(["（本報訊）", *body]), encoding="utf-8")
    recorder = RecordingNotifier("rec")
    report = make(recorder, "\n[dedupe]\nnear = false\n").run_once()
    assert (report.ingest.new, report.ingest.near, report.ingest.alerts) == (2, 0, 6)


def test_a_copy_of_a_muted_match_does_not_alert_after_the_mute(
    workdir: Path, make: Callable[..., App], clock: Clock
) -> None:
    """The story matched the topic while it was muted: an exact copy would not alert
    later either, so a near copy does not."""
    (workdir / "watchlist.toml").write_text(
        '[[topics]]\nid = "putin"\nany = ["普丁"]\nmuted_until = "2026-11-23T09:00:00Z"\n',
        encoding="utf-8",
    )
    body = putin_paragraphs()
    recorder = RecordingNotifier("rec")
    app = make(recorder)
    (workdir / "inbox" / "a.txt").write_text(text_of(body), encoding="utf-8")
    assert app.run_once().ingest.alerts == 0
    clock.advance(hours=3)
    (workdir / "inbox" / "b.txt").write_text(text_of(body[:8]), encoding="utf-8")
    report = app.run_once()
    assert (report.ingest.near, report.ingest.alerts, report.ingest.suppressed) == (1, 0, 1)


# --- the race -----------------------------------------------------------------------------


def _article(name: str, text: str) -> Article:
    from monitor.text import content_hash

    return Article("inbox", name, None, None, name, text, None, content_hash(text))


def test_two_transactions_storing_copies_at_once_make_one_story(store: Store, clock: Clock) -> None:
    """The second transaction's lookup waits for the first one's commit (PostgreSQL: the
    advisory lock per band key; SQLite: the write lock), so it finds the first copy's band
    keys instead of starting a second story."""
    body = putin_paragraphs()
    first = _article("a", text_of(body))
    second = _article("b", text_of(["（本報訊）", *body]))

    def check(article: Article) -> NearCheck:
        return NearCheck(
            signature(article.text), 0.6, clock.now - timedelta(days=7), frozenset({"putin"})
        )

    inside = threading.Event()
    release = threading.Event()
    results: dict[str, object] = {}

    def hold_first() -> None:
        with store.batch():
            results["a"] = store.store_article(first, [], [], clock.now, near=check(first))
            inside.set()
            release.wait(5)

    def store_second() -> None:
        results["b"] = store.store_article(second, [], [], clock.now, near=check(second))

    holder = threading.Thread(target=hold_first)
    holder.start()
    assert inside.wait(5)
    racer = threading.Thread(target=store_second)
    racer.start()
    racer.join(0.5)
    assert racer.is_alive()  # waiting for the first transaction
    release.set()
    holder.join(5)
    racer.join(10)
    a, b = results["a"], results["b"]
    assert a is not None and b is not None
    assert a.near is None and b.near is not None  # type: ignore[attr-defined]
    assert a.story_id == b.story_id  # type: ignore[attr-defined]
    assert b.suppressed == frozenset({"putin"})  # type: ignore[attr-defined]


def test_a_storys_topic_row_counts_its_copies_and_moves_with_the_latest(
    store: Store, clock: Clock
) -> None:
    """The (story, topic) row each write upserts (one statement on PostgreSQL, whatever the
    write's size): created by the root with no copies; each later write adds its suppressed
    copies and moves `last_at`, which the window of the rule reads."""
    import sqlalchemy as sa

    from monitor.store.schema import story_topics

    body = putin_paragraphs()

    def check(article: Article) -> NearCheck:
        return NearCheck(
            signature(article.text), 0.6, clock.now - timedelta(days=7), frozenset({"putin"})
        )

    def row() -> tuple[int, object]:
        with store.engine.connect() as connection:
            ((copies, last_at),) = connection.execute(
                sa.select(story_topics.c.copies, story_topics.c.last_at)
            ).all()
        return copies, last_at

    root = _article("a", text_of(body))
    assert store.store_article(root, [], [], clock.now, near=check(root)) is not None
    first_at = row()[1]
    assert row()[0] == 0
    clock.advance(hours=1)
    alone = _article("b", text_of(["（b報訊）", *body]))
    assert store.store_article(alone, [], [], clock.now, near=check(alone)) is not None
    assert row()[0] == 1
    clock.advance(hours=1)
    together = [_article(n, text_of([f"（{n}報訊）", *body])) for n in ("c", "d")]
    with store.batch():  # one write, one row for the story's topic
        for copy in together:
            assert store.store_article(copy, [], [], clock.now, near=check(copy)) is not None
    copies, last_at = row()
    assert copies == 3
    assert last_at - first_at == timedelta(hours=2)  # type: ignore[operator]


def test_finding_several_copies_in_one_read_answers_as_one_at_a_time(
    store: Store, clock: Clock
) -> None:
    """`find_near_many` (one read of the candidate roots for a write's worth of articles)
    gives each article what `find_near` gives it alone: its root and suppressed topics, or
    None for an article that copies nothing. Nothing is stored by looking."""
    body = putin_paragraphs()
    root = _article("root", text_of(body))
    since = clock.now - timedelta(days=7)

    def check(article: Article) -> NearCheck:
        return NearCheck(signature(article.text), 0.6, since, frozenset({"putin"}))

    stored = store.store_article(root, [], [], clock.now, near=check(root))
    assert stored is not None
    copy = _article("copy", text_of(["（本報訊）", *body[:-1]]))
    other = _article(
        "other", "\n".join(f"Unrelated sentence number {n} about tides." for n in range(40))
    )
    checks = [check(copy), check(other), check(copy)]
    many = store.find_near_many(checks)
    assert many == [store.find_near(c) for c in checks]
    assert many[1] is None
    found = many[0]
    assert found is not None
    match, story, suppressed = found
    assert match.article_id == stored.article_id and story == stored.story_id
    assert suppressed == frozenset({"putin"})  # the root matched it when it was stored
    assert store.find_near_many([]) == []


def test_band_keys_of_roots_older_than_the_window_are_pruned_and_recent_ones_kept(
    store: Store, clock: Clock
) -> None:
    """The daily prune deletes the index rows no lookup can return any more (roots first
    seen before the window) in every slice of the key space, and no row of a root since:
    a copy of a recent root is still found after it."""
    import sqlalchemy as sa

    from monitor.store.schema import near_bands

    body = putin_paragraphs()
    window = timedelta(days=7)

    def check(article: Article) -> NearCheck:
        return NearCheck(signature(article.text), 0.6, clock.now - window)

    def stored_roots(seed: int, count: int) -> int:
        """`count` unrelated texts, each a root: returns their index rows."""
        import random

        keys = 0
        for n in range(count):
            pick = random.Random(seed * 1000 + n)
            text = "".join(chr(pick.randrange(0x4E00, 0x9FA5)) for _ in range(400))
            article = _article(f"{seed}-{n}", text)
            stored = store.store_article(article, [], [], clock.now, near=check(article))
            assert stored is not None and stored.near is None
            sig = signature(article.text)
            assert sig is not None
            keys += len(sig.distinct_band_keys)
        return keys

    def rows() -> int:
        with store.engine.begin() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(near_bands)).scalar_one())

    old_rows = stored_roots(1, 30)
    assert rows() == old_rows
    clock.advance(days=8)
    recent = _article("recent", text_of(body))
    assert store.store_article(recent, [], [], clock.now, near=check(recent))
    recent_rows = rows() - old_rows + stored_roots(2, 30)
    assert store.prune_band_keys(clock.now - window) == old_rows
    assert rows() == recent_rows and store.prune_band_keys(clock.now - window) == 0
    copy = _article("copy", text_of(["（本報訊）", *body]))
    stored = store.store_article(copy, [], [], clock.now, near=check(copy))
    assert stored is not None and stored.near is not None
    assert stored.near.content_hash == recent.content_hash


# --- explain, stories, replay: the CLI ---------------------------------------------------


def cli(workdir: Path, *args: str) -> int:
    from monitor.cli import main

    return main(["--config", str(workdir / "monitor.toml"), *args])


def test_explain_stories_and_replay_show_the_story(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "watchlist.toml").write_text(PUTIN_TOPICS, encoding="utf-8")
    body = putin_paragraphs()
    (workdir / "inbox" / "a.txt").write_text(text_of(body), encoding="utf-8")
    (workdir / "inbox" / "b.txt").write_text(text_of(["（本報訊）", *body]), encoding="utf-8")
    assert cli(workdir, "run", "--once") == 0
    capsys.readouterr()

    # A file not stored yet: what storing it now would decide.
    third = workdir / "c.txt"
    third.write_text(T2S(text_of(body[:9])).replace("普丁", "普京"), encoding="utf-8")
    assert cli(workdir, "explain", str(third)) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if "near-duplicate of" in x)
    assert re.search(
        r"near-duplicate of v1:[0-9a-f]{16}… \(similarity 0\.\d\d, stored \d+ (min|h) ago "
        r"from inbox\): no alert for nato, putin$",
        line,
    ), line

    # A stored copy: what was decided when it was stored.
    stored = [json.loads(x) for x in (workdir / "var" / "alerts.jsonl").read_text().splitlines()]
    root = next(a for a in stored if a["article"]["location"] == "a.txt")
    (copy_alert,) = [a for a in stored if a["article"]["location"] == "b.txt"]  # `loud` only
    assert copy_alert["topic"]["id"] == "loud" and copy_alert["story"] == root["story"]
    copy_hash = copy_alert["article"]["content_hash"]
    assert cli(workdir, "explain", "--json", "--article", copy_hash[3:15]) == 0
    (explained,) = json.loads(capsys.readouterr().out)
    assert explained["near"]["of"] == root["article"]["content_hash"]
    assert explained["near"]["story"] == root["story"]["id"]
    assert explained["near"]["no_alert_for"] == ["nato", "putin"]

    assert cli(workdir, "stories", "--since", "3650d", "--topic", "putin", "--json") == 0
    (story,) = json.loads(capsys.readouterr().out)
    assert story["id"] == root["story"]["id"]
    assert [c["alerted"] for c in story["copies"]] == [["loud", "nato", "putin"], ["loud"]]
    assert cli(workdir, "stories", "--since", "3650d", "--topic", "nobody") == 0
    assert root["story"]["id"] not in capsys.readouterr().out

    # Replay with a new topic: the story alerts once for it, the copy is a near-duplicate.
    replay_list = workdir / "replay.toml"
    replay_list.write_text('[[topics]]\nid = "kim"\nany = ["金正恩"]\n', encoding="utf-8")
    assert cli(workdir, "replay", "--since", "3650d", "--watchlist", str(replay_list)) == 0
    out = capsys.readouterr().out
    assert re.search(r"kim\s+would alert", out) and re.search(r"kim\s+near-duplicate", out)


# --- the upgrade: backfill ---------------------------------------------------------------


def test_the_backfill_makes_older_articles_roots_with_their_topics(
    store: Store, clock: Clock
) -> None:
    """Articles stored before the upgrade (no signature, no story) become roots of their own
    stories with the topics they alerted for; a blanked text is skipped; it resumes."""
    from monitor.config import DedupeSettings
    from monitor.housekeeping import backfill
    from monitor.models import Alert, TopicRef
    from monitor.pipeline import alert_id
    from monitor.store.schema import articles

    body = putin_paragraphs()
    old = _article("old", text_of(body))
    alert = Alert(
        alert_id(old.content_hash, "putin"), TopicRef("putin", "Putin"), old, ("普京",),
        ("普丁",), "普丁…", clock.now,
    )  # fmt: skip
    assert store.add_article(old, [alert], [], clock.now)
    blank = _article("blank", text_of(body[3:]))
    assert store.add_article(blank, [], [], clock.now)
    with store.engine.begin() as c:  # as 0009 left them: no story id; one text pruned
        c.execute(articles.update().values(story_id=None))
        c.execute(articles.update().where(articles.c.location == "blank").values(text=""))
    clock.advance(hours=1)
    assert backfill(store, DedupeSettings(), clock.now, batches=1) == 1
    assert backfill(store, DedupeSettings(), clock.now) == 0  # nothing left

    copy = _article("copy", text_of(["（本報訊）", *body]))
    check = NearCheck(
        signature(copy.text), 0.65, clock.now - timedelta(days=7), frozenset({"putin"})
    )
    stored = store.store_article(copy, [], [], clock.now, near=check)
    assert stored is not None and stored.near is not None
    assert stored.near.content_hash == old.content_hash
    assert stored.story_id == story_id(old.content_hash)
    assert stored.suppressed == frozenset({"putin"})


def test_db_backfill_command(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "watchlist.toml").write_text(PUTIN_TOPICS, encoding="utf-8")
    (workdir / "inbox" / "a.txt").write_text(text_of(putin_paragraphs()), encoding="utf-8")
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text() + "\n[dedupe]\nnear = false\n", encoding="utf-8")
    assert cli(workdir, "run", "--once") == 0
    toml.write_text(toml.read_text().replace("near = false", "near = true"), encoding="utf-8")
    capsys.readouterr()
    assert cli(workdir, "db", "backfill") == 0
    assert "signatures of 1 articles" in capsys.readouterr().out
    assert cli(workdir, "db", "backfill") == 0
    assert "signatures of 0 articles" in capsys.readouterr().out


def test_the_extraction_workers_sign_as_the_pipeline_would() -> None:
    from monitor.near import compute_signature
    from monitor.prepare import Prepared, prepare_batch

    item = RawItem("s", PUTIN.name, PUTIN.read_bytes(), "text/plain", datetime.now(UTC))
    (signed,) = prepare_batch([item], near=True) or []
    (unsigned,) = prepare_batch([item]) or []
    assert isinstance(signed, Prepared) and isinstance(unsigned, Prepared)
    assert signed.signature == (compute_signature(signed.article.text),)
    assert unsigned.signature is None  # detection off: no signature work in the workers
    # The band keys travel with the signature (computed in the worker, not the writer).
    (sent,) = pickle.loads(pickle.dumps(signed)).signature
    assert "distinct_band_keys" in vars(sent)
    assert sent.distinct_band_keys == tuple(sorted(set(sent.band_keys())))
