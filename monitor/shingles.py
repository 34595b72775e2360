"""The inner loop of the near-duplicate signature (`monitor.near`), over numpy arrays: from a
normalized text to its shingles' hashes, their number and each bin's smallest hash.

Why numpy: in plain Python, 1,500 characters of Chinese cost ~0.5 ms to sign. The regex makes
1,500 one-character strings; every shingle's tuple is hashed; and the ~500 smallest 64-bit
hashes are sorted with generic int compares. Over arrays the same steps cost ~0.1 ms. That is
what takes "signature + lookup" past 2,000 articles/s on one core (`bench/near.py`). numpy
is imported when the first signature is computed, so a process that never signs (an all-304
`run --once`) does not pay its ~60 ms import.

It computes exactly what the definition in `monitor.near` says, so that stored signatures
compare with new ones:
- tokens: each CJK character, and each maximal run of other letters and digits;
- token id: BLAKE2b (8 bytes) of the token, of which only CPython's `hash` (id mod 2⁶¹−1,
  the "lane") enters the shingle hash;
- shingle hash: CPython's 64-bit tuple hash (xxHash-based, since 3.8) of three consecutive
  ids (a shingle is three tokens), recomputed here over arrays.
`tests/near_reference.py` computes the same in plain Python (`hash` of real tuples). A test
compares the two on random mixed-script texts, and a golden test pins both.
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

BINS = 64  # a hash's low 6 bits pick its bin
# CJK ideographs (and kana, hangul): one token per character. All are in the BMP.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
# Compiled with the tables, not at import: each of these classes costs sre ~3 ms to compile,
# which a process that never signs (an all-304 `run --once`) should not pay.
_CJK_CHAR = f"[{CJK}]"
_WORD_CHAR = f"[^\\W_{CJK}]"  # any other letter or digit (for sre, \w is isalnum() or "_")
_WORD_RUN = f"{_WORD_CHAR}+"  # a run of them: one token
_DROP, _WORD, _IDEOGRAPH = 0, 1, 2  # a character's class
_MODULUS = (1 << 61) - 1  # CPython's hash of a non-negative int is the int modulo this
_RUN_CACHE_LIMIT = 200_000


def lane(token: str) -> int:
    """`hash` of the token's id (BLAKE2b, 8 bytes, little-endian): what the tuple hash mixes."""
    digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % _MODULUS


def _wide_class(char: str) -> int:
    """The class of a character outside the BMP (no CJK range is): sre's \\w is isalnum()."""
    return _WORD if char.isalnum() else _DROP


class _RunLanes(dict[str, int]):
    """A word run's lane, computed once per distinct run. A dict subclass, so the hits (nearly
    all runs) are looked up in C."""

    def __missing__(self, token: str) -> int:
        value = lane(token)
        if len(self) < _RUN_CACHE_LIMIT:
            self[token] = value
        return value


class _Tables:
    """Per process, built on the first signature: each BMP character's class (from the same
    regexes, so a table lookup and the regex never disagree), and the lanes of the CJK
    characters met so far (filled as they first appear: ~40,000 possible, a few thousand used)."""

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        bmp = "".join(map(chr, range(0x10000)))
        self.classes = np.zeros(0x10000, np.uint8)
        for pattern, value in ((_WORD_CHAR, _WORD), (_CJK_CHAR, _IDEOGRAPH)):
            self.classes[[m.start() for m in re.finditer(pattern, bmp)]] = value
        self.word_run = re.compile(_WORD_RUN)
        self.cjk_lanes = np.zeros(0x10000, np.uint64)
        self.cjk_known = np.zeros(0x10000, np.bool_)
        self.run_lanes = _RunLanes()
        u64 = np.uint64
        self.prime1, self.prime2, self.prime5 = (
            u64(11400714785074694791),
            u64(14029467366897019727),
            u64(2870177450012600261),
        )
        self.tail = u64(3 ^ 2870177450012600261 ^ 3527539)  # a 3-tuple's length, mangled
        self.rotate_left, self.rotate_right = u64(31), u64(33)
        self.all_ones = u64(0xFFFFFFFFFFFFFFFF)


_TABLES: _Tables | None = None
_TABLES_LOCK = threading.Lock()


def _tables() -> _Tables:
    global _TABLES
    if _TABLES is None:
        with _TABLES_LOCK:
            if _TABLES is None:
                _TABLES = _Tables()
    return _TABLES


def bin_minima(normalized: str) -> tuple[list[int | None], int]:
    """Per bin, bits 6–37 of the smallest shingle hash in it (None: no shingle fell in it),
    and the number of distinct shingles (three consecutive tokens)."""
    t = _tables()
    np = t.np
    hashes = _shingle_hashes(t, normalized)
    if hashes.size == 0:
        return [None] * BINS, 0
    hashes.sort()
    distinct = np.empty(hashes.size, np.bool_)
    distinct[0] = True
    np.not_equal(hashes[1:], hashes[:-1], out=distinct[1:])
    hashes = hashes[distinct]
    none = np.iinfo(np.int64).max
    minima = np.full(BINS, none, np.int64)
    np.minimum.at(minima, hashes & (BINS - 1), hashes)
    values = ((minima >> 6) & 0xFFFFFFFF).tolist()
    empty = (minima == none).tolist()
    return [None if e else v for e, v in zip(empty, values, strict=True)], int(hashes.size)


def _shingle_hashes(t: _Tables, normalized: str) -> np.ndarray[Any, Any]:
    """CPython's `hash((a, b, c))` of every three consecutive token ids, as signed int64."""
    lanes = _token_lanes(t, normalized)
    if lanes.size < 3:
        return lanes[:0].view(t.np.int64)
    acc = t.prime5 + lanes[:-2] * t.prime2
    for following in (lanes[1:-1], lanes[2:]):
        acc = ((acc << t.rotate_left) | (acc >> t.rotate_right)) * t.prime1
        acc += following * t.prime2
    acc = ((acc << t.rotate_left) | (acc >> t.rotate_right)) * t.prime1
    acc += t.tail
    acc[acc == t.all_ones] = 1546275796  # CPython's stand-in for the hash -1
    return acc.view(t.np.int64)


def _token_lanes(t: _Tables, normalized: str) -> np.ndarray[Any, Any]:
    """The lanes of the text's tokens, in order."""
    np = t.np
    points = np.frombuffer(normalized.encode("utf-32-le"), np.uint32)
    if points.size and int(points.max()) > 0xFFFF:
        wide = points > 0xFFFF
        classes = t.classes[np.where(wide, 0, points)]
        classes[wide] = [_wide_class(chr(p)) for p in points[wide].tolist()]
    else:
        classes = t.classes[points]
    ideograph = classes == _IDEOGRAPH
    word = classes == _WORD
    run_start = word.copy()
    run_start[1:] &= ~word[:-1]
    kinds = classes[ideograph | run_start]  # one per token, in text order
    lanes = np.empty(kinds.size, np.uint64)
    lanes[kinds == _IDEOGRAPH] = _ideograph_lanes(t, points[ideograph])
    if run_start.any():
        runs = t.word_run.findall(normalized)
        lanes[kinds == _WORD] = np.fromiter(
            map(t.run_lanes.__getitem__, runs), np.uint64, count=len(runs)
        )
    return lanes


def _ideograph_lanes(t: _Tables, points: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    unknown = points[~t.cjk_known[points]]
    if unknown.size:
        for point in t.np.unique(unknown).tolist():
            t.cjk_lanes[point] = lane(chr(point))
            t.cjk_known[point] = True
    return t.cjk_lanes[points]
