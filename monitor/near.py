"""Near-duplicate signatures: shingles of the normalized text, a one-permutation MinHash, LSH
band keys and the similarity score. Pure (text in, numbers out): the store keeps and looks up
what this computes, the pipeline decides what it means.

Shingles: the normalized text (the content hash's: NFKC, case fold, Traditional → Simplified,
white space folded) becomes a stream of tokens, each CJK character one token and each run of
other letters and digits one token (so "G20峰会" is "g20", "峰", "会"; punctuation is dropped);
a shingle is 3 consecutive tokens of that stream, across script changes. Chinese thus gets
character 3-grams and English word 3-grams from one rule.

Signature: one-permutation MinHash (Li, Owen and Zhang, 2012) with rotation densification
(Shrivastava and Li, 2014): every shingle is hashed once to 64 bits, the low 6 bits pick one
of 64 bins, the bin keeps (32 bits of) its smallest hash. An empty bin borrows the next non-empty
bin to its right (plus a per-step offset), the same way in every text. One hash per shingle
instead of 64, computed over numpy arrays (`monitor.shingles`), signs ~10,000 articles of
1,500 Chinese characters a second on one core (bench/near.py).

Similarity: the larger of the Jaccard resemblance J (the share of equal bins) and the
containment of the smaller shingle set in the larger one, derived from J and the two set
sizes (|A∩B| = J·(|A|+|B|)/(1+J)); containment is only used when the smaller set is at least
`CONTAINMENT_RATIO` of the larger, since far apart sizes make that estimate noise.

Candidates: 24 bands of 2 bins each → 24 band keys per story root; two texts with J = 0.33
share a band with probability 1−(1−J²)^24 ≈ 0.94, with J = 0.05 only ≈ 0.06.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import struct
from dataclasses import dataclass
from datetime import datetime

from monitor.shingles import BINS, bin_minima
from monitor.text import MIN_TEXT_FOR_HASH, mapped_text

BAND_ROWS = 2
BANDS = 24  # the first BANDS × BAND_ROWS bins make the band keys
MIN_SHINGLES = 24  # fewer distinct shingles: too short to judge, never a near-duplicate
CONTAINMENT_RATIO = 0.2
_MASK64 = (1 << 64) - 1
_SIGNATURE = struct.Struct(f"<{BINS}I")


@dataclass(frozen=True)
class Signature:
    """What the store keeps per article: 64 bin minima (packed, 256 bytes) and the number of
    distinct shingles (for the containment estimate)."""

    bins: tuple[int, ...]
    shingles: int

    def pack(self) -> bytes:
        return _SIGNATURE.pack(*self.bins)

    @classmethod
    def unpack(cls, data: bytes, shingles: int) -> Signature:
        return cls(_SIGNATURE.unpack(data), shingles)

    @functools.cached_property
    def distinct_band_keys(self) -> tuple[int, ...]:
        """`band_keys` without repeats, sorted: what the index holds and locks take, in that
        order. Computed once per signature (a write reads and then places with them)."""
        return tuple(sorted(set(self.band_keys())))

    def band_keys(self) -> list[int]:
        """One signed 32-bit key per band (a 4-byte integer on both databases: the index is
        ~24 rows per story root, so its width is most of the storage). Two roots share a key
        by chance with probability ~N/2³² per band; the signature comparison weeds those out."""
        keys = []
        for band in range(BANDS):
            start = band * BAND_ROWS
            h = band + 1
            for value in self.bins[start : start + BAND_ROWS]:
                h = _mix(h * 0x100000001B3 ^ value)
            h >>= 32
            keys.append(h - (1 << 32) if h >= 1 << 31 else h)
        return keys


def _mix(h: int) -> int:
    """A 64-bit finalizer (splitmix64): spreads combined values over all bits."""
    h &= _MASK64
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK64
    return h ^ (h >> 31)


def signature(text: str) -> Signature | None:
    """The signature of an article's text, or None when it is too short to judge (under the
    content hash's 40 characters, or fewer than `MIN_SHINGLES` distinct shingles). Extraction
    workers compute it beside the text and hand it on with the article (`monitor.prepare`)."""
    return compute_signature(text)


def compute_signature(text: str) -> Signature | None:
    """`signature`, computed: the shingles, their hashes and the bins' minima over numpy
    arrays (`monitor.shingles`), the densification and the packing here."""
    normalized = mapped_text(text).normalized
    if len(normalized) < MIN_TEXT_FOR_HASH:
        return None
    minima, count = bin_minima(normalized)
    if count < MIN_SHINGLES:
        return None
    return Signature(_densify(minima), count)


def _densify(bins: list[int | None]) -> tuple[int, ...]:
    """Rotation densification: an empty bin (None) takes the next non-empty bin to its right,
    offset by the distance, so two texts with the same bins filled get the same result."""
    if all(v is None for v in bins):
        return tuple(0 for _ in bins)
    out: list[int] = []
    for i, v in enumerate(bins):
        step = 0
        while v is None:
            step += 1
            v = bins[(i + step) % BINS]
        out.append((v + step * 0x9E3779B1) & 0xFFFFFFFF)
    return tuple(out)


def jaccard(a: Signature, b: Signature) -> float:
    return sum(map(operator.eq, a.bins, b.bins)) / BINS


def similarity(a: Signature, b: Signature) -> float:
    """max(Jaccard, containment of the smaller shingle set in the larger), estimated."""
    j = jaccard(a, b)
    if j == 0.0:
        return 0.0
    small, large = sorted((a.shingles, b.shingles))
    if small < CONTAINMENT_RATIO * large:
        return j
    containment = j * (small + large) / (1 + j) / small
    return max(j, min(1.0, containment))


def story_id(root_content_hash: str) -> str:
    """`story_` + 32 hex of SHA-256("story\\n" + the root's content hash): the same on every
    instance and re-run, and defined for articles stored before stories existed."""
    digest = hashlib.sha256(f"story\n{root_content_hash}".encode()).hexdigest()
    return f"story_{digest[:32]}"


@dataclass(frozen=True)
class NearCheck:
    """What the store needs to place a new article in a story, inside its write transaction.

    `matched`: every topic the article matched (alerting or not: muted, a silent backlog);
    `alert_anyway`: those of them whose `near_duplicates = "alert"`.
    """

    signature: Signature | None
    threshold: float
    since: datetime  # the window: only roots first seen since then are candidates
    matched: frozenset[str] = frozenset()
    alert_anyway: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NearMatch:
    """The story root an article was found to copy."""

    article_id: int
    content_hash: str
    source: str
    first_seen: datetime
    similarity: float


@dataclass(frozen=True)
class Stored:
    """A newly stored article's place: its story, the root it copies (None: it is a root, or a
    new version of a feed entry), and the topics it did not alert for as a near-duplicate."""

    article_id: int
    story_id: str
    near: NearMatch | None = None
    suppressed: frozenset[str] = frozenset()
