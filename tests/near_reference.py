"""The near-duplicate signature's definition in plain Python, which `monitor.shingles` computes
over numpy arrays. Kept as the specification the fast path is tested against: a regex for the
tokens, BLAKE2b for their ids, CPython's `hash` of real 3-tuples for the shingles, the
smallest hash per bin by a plain scan. (Simpler and slower than monitor's plain-Python code
before numpy, which computed the same signature.)
"""

from __future__ import annotations

import hashlib
import re

from monitor.near import BINS, MIN_SHINGLES, Signature, _densify
from monitor.shingles import CJK
from monitor.text import MIN_TEXT_FOR_HASH, mapped_text

TOKEN = re.compile(f"[{CJK}]|[^\\W_{CJK}]+")


def token_id(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")


def reference_signature(text: str) -> Signature | None:
    normalized = mapped_text(text).normalized
    if len(normalized) < MIN_TEXT_FOR_HASH:
        return None
    ids = [token_id(t) for t in TOKEN.findall(normalized)]
    hashes = {hash((a, b, c)) for a, b, c in zip(ids, ids[1:], ids[2:], strict=False)}
    if len(hashes) < MIN_SHINGLES:
        return None
    minima: list[int | None] = [None] * BINS
    for h in hashes:
        current = minima[h & 63]
        if current is None or h < current:
            minima[h & 63] = h
    bins = [None if h is None else (h >> 6) & 0xFFFFFFFF for h in minima]
    return Signature(_densify(bins), len(hashes))
