"""The content hash and its normalization: the identity of an article (golden values pinned)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import opencc
import pytest

from monitor.extract import extract
from monitor.models import RawItem
from monitor.text import MappedText, content_hash, normalize, one_line
from tests.conftest import END_MARKERS, SEEDS

# Pinned: a change here changes every stored article's identity. If normalization must change,
# bump HASH_VERSION (v2) instead of editing these.
GOLDEN = {
    "000_e111a6c8e310c3f6.txt": "v1:6fe156d78b75d4090388f61cd05a85dd392ee7e767248272c96ce5ad9d225fe3",
    "001_440fa6a656e67998.txt": "v1:ed4a3dae7ff191c3a857e3076b01a655b6b837a870b5c9d24f45d71a4da99981",
    "002_7d880239782f64d9.txt": "v1:d774d486f37d78c432c6d12be61268d83e17c327d415d1405170ca5227a939c6",
    "003_413e65a7a8c7964a.txt": "v1:4dcca4a106db52bad40aa1aab0f96ab7423feee9c898c878f8ffbbf3138ee4c3",
    "004_afff801dc2e45540.txt": "v1:f4c0c2a30539eae3336168fcbfaf91d3e082f3370c76ff8efce3390ae451413e",
}


def seed_article(path: Path):
    item = RawItem("seeds", path.name, path.read_bytes(), "text/plain",
                   datetime(2026, 1, 1, tzinfo=UTC), {"end_markers": END_MARKERS})  # fmt: skip
    return extract(item)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_seed_hashes_are_pinned(name: str) -> None:
    assert seed_article(SEEDS / name).content_hash == GOLDEN[name]


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_hash_is_sha256_of_the_documented_normalization(name: str) -> None:
    """Recompute the hash from the README's recipe with the libraries directly."""
    import re
    import unicodedata

    article = seed_article(SEEDS / name)
    folded = opencc.OpenCC("t2s").convert(unicodedata.normalize("NFKC", article.text).casefold())
    body = re.sub(r"\s+", " ", folded).strip()
    assert article.content_hash == "v1:" + hashlib.sha256(body.encode()).hexdigest()


def test_normalize_folds_width_case_and_script() -> None:
    assert normalize("ＮＡＴＯ，俄羅斯：臺海") == normalize("nato,俄罗斯:台海")
    assert normalize("  a\n\t b  ") == "a b"


def test_title_and_metadata_are_not_hashed() -> None:
    text = "中國外交部長王毅透過錄影影片，向俄羅斯外交部長拉夫羅夫及與會來賓發表談話。" * 2
    assert content_hash(text, title="A") == content_hash(text, title="B", url="https://x.example/")


def test_short_texts_hash_title_and_url_so_headlines_stay_distinct() -> None:
    assert content_hash("", title="Headline one") != content_hash("", title="Headline two")
    assert content_hash("short", title="T", url="https://a.example/1") != content_hash(
        "short", title="T", url="https://a.example/2"
    )


def test_mapped_text_maps_hits_back_to_the_original() -> None:
    original = "Ｐｕｔｉｎ  met\n\n  北韓 leaders ß"
    mapped = MappedText(original)
    start = mapped.text.index("北韩")
    assert original[mapped.to_original(start) : mapped.to_original(start + 1) + 1] == "北韓"
    start = mapped.text.index("leaders")
    assert original[mapped.to_original(start) :].startswith("leaders")


def test_one_line_strips_controls_and_escape_sequences() -> None:
    assert one_line("a\r\nBcc: x\x1b[2J\x1b]8;;http://e\x07y\u202e") == "a Bcc: xy"
    assert one_line("x" * 50, limit=10) == "x" * 9 + "…"


# Characters whose fold changes the length (…, ß, ﬁ, ㎏, ①, astral letters), combining marks
# (whole-text NFKC composes them, per-character NFKC does not), Traditional Chinese, white space.
_TRICKY = (
    "abcABCßﬁ…㎏①普丁蒲亭習近平發展e\u0301\u00ad\uff21，。 \n\t\U0001d400\U0001f100\U0002f800İΣ"
)


def _reference_fold(original: str) -> tuple[str, list[int]]:
    """The per-character fold spelled out: each character alone through NFKC and case fold,
    then t2s of the whole when it keeps the length; and where each folded character came from."""
    import unicodedata

    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(original):
        piece = unicodedata.normalize("NFKC", char).casefold()
        pieces.append(piece)
        origin += [index] * len(piece)
    folded = "".join(pieces)
    converted = opencc.OpenCC("t2s").convert(folded)
    return (converted if len(converted) == len(folded) else folded), origin


@pytest.mark.parametrize("seed", range(3))
def test_mapped_text_agrees_with_a_character_by_character_fold(seed: int) -> None:
    """Matching scans `MappedText.text` and maps hits back with `to_original`: on texts that
    take the slow path, both agree with the plain per-character definition."""
    import random

    from monitor.text import _WHITESPACE

    chance = random.Random(seed)
    for _ in range(2000):
        original = "".join(chance.choice(_TRICKY) for _ in range(chance.randint(1, 60)))
        folded, origin = _reference_fold(original)
        mapped = MappedText(original)
        assert mapped.text == _WHITESPACE.sub(" ", folded), original
        for index in range(len(mapped.text)):
            if mapped.text[index] != " ":
                assert mapped.to_original(index) == origin[folded_index(mapped, index)], original


def folded_index(mapped: MappedText, index: int) -> int:
    """Where character `index` of the white-space-collapsed text sits in the uncollapsed fold."""
    import bisect

    k = bisect.bisect_right(mapped._breaks_norm, index) - 1
    return mapped._breaks_folded[k] + (index - mapped._breaks_norm[k])


def test_the_shipped_fold_table_is_this_unicode_versions() -> None:
    from monitor import unicode_fold

    assert unicode_fold.TABLE.read_text("utf-8") == unicode_fold.dump()
    assert unicode_fold._compiled() is not None  # CI's Python is the table's


def _random_text(chance, length: int) -> str:
    """Code points from anywhere (surrogates excepted), from the scripts news is written in,
    and from those where NFKC joins or reorders characters: combining marks, Hangul jamo and
    the syllables they extend, Indic and kana signs that compose with what precedes them."""
    common = "aZ9 ,.\n\t，。「」（）：！？—…·ßİΣéñüÅ俄羅斯普丁北韓習近平發展한국어カタカナ"
    joining = (
        "eaoAEＥ가각나ᄀ나ᅢᆨᆫㄱㅏㅐかはカハ\u3099\u309a\u0b47\u0b3e\u0b57\u0cc6\u0cd5\u0dd9\u0dcf"
    )
    chars = []
    for _ in range(length):
        draw = chance.random()
        if draw < 0.4:
            chars.append(chance.choice(common))
        elif draw < 0.6:
            chars.append(chance.choice(joining))
        elif draw < 0.8:
            chars.append(chr(chance.choice((0x300, 0x1AB0, 0x1DC0, 0x20D0)) + chance.randrange(48)))
        else:
            code = chance.randrange(0x110000)
            chars.append(chr(code) if not 0xD800 <= code <= 0xDFFF else "x")
    return "".join(chars)


@pytest.mark.parametrize("seed", range(3))
def test_texts_without_special_characters_fold_per_character_as_nfkc_folds_the_whole(
    seed: int,
) -> None:
    """The claim the fast path rests on, tried where it is made: texts of any characters but
    the special ones (combining marks' neighbours, Hangul syllables, full-width forms) fold
    in one pass to NFKC and case fold of the whole, one character to one; texts with one
    take the other path."""
    import random
    import unicodedata

    from monitor.text import _PER_CHAR
    from monitor.unicode_fold import _compiled, fold_by_characters

    compiled = _compiled()
    assert compiled is not None
    special = compiled[1]
    chance = random.Random(seed)
    for _ in range(3000):
        text = _random_text(chance, chance.randint(1, 40))
        if chance.random() < 0.7:  # most texts: the specials taken out
            text = "".join(c for c in text if c not in special and c <= "\uffff")
        folded = fold_by_characters(text)
        if any(c in special or c > "\uffff" for c in text):
            assert folded is None, text
        else:
            assert folded == unicodedata.normalize("NFKC", text).casefold(), text
            assert folded == text.translate(_PER_CHAR), text


@pytest.mark.parametrize("seed", range(3))
def test_the_normalized_text_is_the_documented_one_whichever_path_folds_it(seed: int) -> None:
    """Random texts, special characters and all: `MappedText.normalized` (what the content
    hash hashes) is `normalize`, the whole text through NFKC, case fold and t2s."""
    import random

    chance = random.Random(seed)
    for _ in range(3000):
        text = _random_text(chance, chance.randint(1, 40))
        assert MappedText(text).normalized == normalize(text), text


def test_another_unicode_version_folds_the_whole_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped table is for one Unicode version; with another Python's, nothing is
    assumed and the texts are folded whole, then compared character by character."""
    import unicodedata

    from monitor import unicode_fold

    monkeypatch.setattr(unicodedata, "unidata_version", "99.0.0")
    unicode_fold._compiled.cache_clear()
    try:
        assert unicode_fold.fold_by_characters("Ｐｕｔｉｎ") is None
        assert MappedText("Ｐｕｔｉｎ 普丁 e\u0301").normalized == "putin 普丁 é"
        test_mapped_text_maps_hits_back_to_the_original()
    finally:
        unicode_fold._compiled.cache_clear()
