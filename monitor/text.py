"""Text normalization and the versioned content hash: the identity of an article.

Pure: values in, values out. The normalization is shared by hashing and matching, so a term
and a text that look alike to a reader compare equal: Unicode NFKC (full-width → half-width),
case folding, Traditional → Simplified Chinese (OpenCC t2s), white space collapsed.
Changing any step changes every hash: bump `HASH_VERSION` and keep the golden tests honest.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from functools import cache

from monitor.unicode_fold import fold_by_characters

HASH_VERSION = "v1"
# Below this many normalized characters an item is "title only": title and URL join the hash so
# that distinct headlines with an empty or boilerplate body stay distinct.
MIN_TEXT_FOR_HASH = 40

_WHITESPACE = re.compile(r"\s+")
# Control characters (C0, C1 except tab/newline), bidi overrides and isolates, zero-width
# formatting: they can reorder or hide text on a terminal or in a mail client.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_ESCAPE_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?)")


@cache
def _t2s() -> Callable[[str], str]:
    """OpenCC's `t2s`, built once per process: its dictionaries applied at C-built-in speed
    (`monitor.simplified`, 6x OpenCC's own converter), or OpenCC itself when the installed
    version is not the one those dictionaries were dumped from."""
    from monitor.simplified import converter

    return converter()


def fold(text: str) -> str:
    """NFKC, case fold, Traditional → Simplified; keeps white space as it is."""
    return _t2s()(unicodedata.normalize("NFKC", text).casefold())


def to_simplified(text: str) -> str:
    """Traditional → Simplified only: for regular expressions, whose syntax NFKC or case
    folding could change (`（` → `(`, `\\D` → `\\d`), while t2s touches only Chinese."""
    return _t2s()(text)


def normalize(text: str) -> str:
    """`fold`, then every run of white space becomes one space, trimmed: the hashed form."""
    return _WHITESPACE.sub(" ", fold(text)).strip()


def blank(text: str) -> bool:
    """Nothing left to match once normalized but white space and invisible characters
    (controls, bidi and zero-width formatting): such a term is an error, not a term."""
    return not _UNSAFE.sub("", normalize(text)).strip()


def content_hash(text: str, *, title: str = "", url: str | None = None) -> str:
    """`v1:` + sha256 of the normalized text (plus title and URL when the text is too short)."""
    # The matcher folds the same text right after; `mapped_text` remembers it for both.
    body = mapped_text(text).normalized
    if len(body) < MIN_TEXT_FOR_HASH:
        body = "\n".join((body, normalize(title), url or ""))
    return f"{HASH_VERSION}:{hashlib.sha256(body.encode('utf-8')).hexdigest()}"


_MAPPED: OrderedDict[str, MappedText] = OrderedDict()
_MAPPED_LOCK = threading.Lock()
_MAPPED_SIZE = 256  # enough for one extraction batch's hash, then the batch's own result


def mapped_text(text: str) -> MappedText:
    """`MappedText(text)`, remembered: extracting an article hashes its folded text, and the
    worker then matches the same folded text (`monitor.prepare`)."""
    with _MAPPED_LOCK:
        found = _MAPPED.get(text)
        if found is not None:
            _MAPPED.move_to_end(text)
            return found
    mapped = MappedText(text)
    with _MAPPED_LOCK:
        _MAPPED[text] = mapped
        while len(_MAPPED) > _MAPPED_SIZE:
            _MAPPED.popitem(last=False)
    return mapped


class MappedText:
    """Normalized text for matching, with a map from its offsets back to the original text.

    Matching runs on the normalized form, but users want to see what the article really says
    (original script and case), so every hit is mapped back. The fast path assumes NFKC, case
    folding and t2s kept the length (true for nearly all news text); otherwise a per-character
    fold builds the map. A text without `unicode_fold`'s special characters (nearly every
    news text) is folded in one pass that proves the map is the identity.
    """

    __slots__ = ("_breaks_folded", "_breaks_norm", "_folded_map", "normalized", "original", "text")

    def __init__(self, original: str) -> None:
        self.original = original
        unconverted = fold_by_characters(original)
        if unconverted is not None:
            per_char = unconverted  # one to one, and the whole text's fold: `unicode_fold`
        else:
            unconverted = unicodedata.normalize("NFKC", original).casefold()
            with _PER_CHAR_LOCK:
                per_char = original.translate(_PER_CHAR)
        folded = _t2s()(unconverted)  # = fold(original)
        # Offsets are the original's only when each character folds to one character in place
        # (equal lengths alone are not enough: "㎏" → "kg" and "A" + U+0301 → "á" cancel out).
        # The canonical form (what `normalize` returns), kept for the content hash: the
        # collapsed text below when offsets map one to one, else from the whole text's fold.
        normalized: str | None = None
        if len(per_char) == len(original) == len(folded) and per_char == unconverted:
            char_map: list[int] | None = None
        else:  # e.g. "…" → "...": offsets shift, so map character by character
            normalized = _WHITESPACE.sub(" ", folded).strip()
            folded, char_map = _fold_per_char(original, per_char, unconverted, folded)
        # Collapse white space runs; remember where the two texts' offsets diverge.
        pieces: list[str] = []
        breaks_norm = [0]
        breaks_folded = [0]
        last = 0
        out_len = 0
        for run in _WHITESPACE.finditer(folded):
            start, end = run.span()
            pieces.append(folded[last:start])
            pieces.append(" ")
            out_len += start - last + 1
            last = end
            if end - start > 1:
                breaks_norm.append(out_len)
                breaks_folded.append(end)
        pieces.append(folded[last:])
        self.text = "".join(pieces)
        self.normalized = self.text.strip() if normalized is None else normalized
        self._breaks_norm = breaks_norm
        self._breaks_folded = breaks_folded
        self._folded_map = char_map

    def to_original(self, index: int) -> int:
        """Offset in `original` of the character at `index` in `text`."""
        k = bisect.bisect_right(self._breaks_norm, index) - 1
        folded_index = self._breaks_folded[k] + (index - self._breaks_norm[k])
        if self._folded_map is None:
            return min(folded_index, len(self.original))
        return self._folded_map[min(folded_index, len(self._folded_map) - 1)]


class _PerCharFold(dict[int, str]):
    """`str.translate` table of the per-character fold (NFKC + case fold of each character
    alone), filled on first sight of each character: one C-level pass over the text instead
    of a Python loop per character. `expanding` collects the characters whose fold is not one
    character long, the only places where offsets shift."""

    def __init__(self) -> None:
        super().__init__()
        self.expanding: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __missing__(self, code: int) -> str:
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char).casefold()
        if len(folded) != 1:
            self.expanding.add(char)
            self._pattern = None
        self[code] = folded
        return folded

    def expansions(self) -> re.Pattern[str]:
        if self._pattern is None:
            chars = "".join(map(re.escape, sorted(self.expanding)))
            self._pattern = re.compile(f"[{chars}]" if chars else "(?!)")
        return self._pattern


_PER_CHAR = _PerCharFold()
_PER_CHAR_LOCK = threading.Lock()


def _fold_per_char(
    original: str, folded: str, unconverted: str, converted: str
) -> tuple[str, list[int]]:
    """Slow path of `MappedText`: the per-character fold `folded` (each character alone through
    NFKC and case fold), converted to Simplified when that keeps its length, and where each of
    its characters came from (`char_map[i]`: the original offset of character i). When the
    per-character fold is the whole text's (`unconverted`), its conversion (`converted`, the
    costliest step) is not redone."""
    with _PER_CHAR_LOCK:
        expansions = _PER_CHAR.expansions()
    char_map: list[int] = []
    last = 0
    for found in expansions.finditer(original):
        start = found.start()
        char_map.extend(range(last, start))
        char_map.extend([start] * len(_PER_CHAR[ord(original[start])]))
        last = start + 1
    char_map.extend(range(last, len(original)))
    if folded != unconverted:
        converted = _t2s()(folded)
    if len(converted) == len(folded):
        folded = converted
    char_map.append(len(original))  # one past the end maps to the end
    return folded, char_map


def one_line(text: str, limit: int | None = None) -> str:
    """A single safe line: escape sequences and controls removed, white space collapsed."""
    text = _UNSAFE.sub("", _ESCAPE_SEQUENCE.sub("", text))
    text = _WHITESPACE.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def safe_text(text: str) -> str:
    """Plain text fit for a terminal or a mail body: keeps line breaks, drops controls."""
    return _UNSAFE.sub("", _ESCAPE_SEQUENCE.sub("", text))
