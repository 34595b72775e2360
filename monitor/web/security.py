"""Who may ask what: the Host allow-list, the token and what it signs (session cookies, feed
keys, CSRF tokens), the sign-in rate limit, and the headers every response carries.

Everything signed is an HMAC-SHA256 under a key derived from `[http] token`, so changing the
token revokes every session, feed key and form at once; without a token (a loopback page
that needs none) a random per-process key signs the CSRF tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_COOKIE = "monitor_session"
SESSION_SECONDS = 30 * 86400
# The sign-in form's own CSRF cookie (there is no session yet): a random nonce, and the form
# carries its HMAC (a signed double-submit cookie; OWASP's CSRF cheat sheet).
SIGNIN_COOKIE = "monitor_signin"
SIGNIN_FORM_SECONDS = 3600
CSRF_HEADER = "x-csrf-token"  # the page's CSRF token, for an API POST made with the cookie
SIGNIN_FAILURES = 5  # failed sign-ins allowed per client per window
SIGNIN_FAILURES_ALL = 20  # …and from everyone together
SIGNIN_WINDOW = 60.0  # s

# Unauthenticated on purpose: probes and scrapers send no credentials.
OPEN_PATHS = frozenset({"/healthz", "/metrics"})

SECURITY_HEADERS = (
    (b"content-security-policy", b"default-src 'self'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int, extra: tuple[str, ...], public_url: str) -> set[str]:
    """The `Host` header values accepted (lower case). Loopback names with the port and
    without (a client may leave out a default port); `[http] hosts` entries as written, and
    with the port when they give none; the public URL's host."""
    shown = f"[{host}]" if ":" in host else host
    names = {f"{shown}:{port}", f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
    names |= {"localhost", "127.0.0.1", "[::1]"}
    if host not in ("0.0.0.0", "::"):  # a wildcard is no name a browser sends
        names.add(shown)
    for name in extra:
        name = name.lower()
        names.add(name)
        if not name.rsplit(":", 1)[-1].isdigit() or name.endswith("]"):
            names.add(f"{name}:{port}")
    if public_url:
        names.add(public_url.split("://", 1)[1].split("/", 1)[0].lower())
    return names


def _bytes(value: str) -> bytes:
    # surrogatepass: a lone surrogate (a form field may carry one) is bytes like any other.
    return value.encode("utf-8", "surrogatepass")


def same(given: str, expected: str) -> bool:
    """Constant-time equality of a client's string and ours. On bytes: `compare_digest` raises
    TypeError for a str with any non-ASCII character (`?key=%C3%A9`), which was a 500."""
    return hmac.compare_digest(_bytes(given), _bytes(expected))


@dataclass
class Signer:
    """HMACs under the token (or a per-process key when there is none)."""

    token: str

    def __post_init__(self) -> None:
        secret = self.token.encode() if self.token else secrets.token_bytes(32)
        self._key = hashlib.sha256(b"monitor web v1\0" + secret).digest()

    def sign(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, _bytes(f"{purpose}\0{value}"), hashlib.sha256).hexdigest()

    def check_token(self, given: str) -> bool:
        """Constant time, whatever the lengths."""
        if not self.token:
            return False
        return hmac.compare_digest(
            hashlib.sha256(_bytes(given)).digest(), hashlib.sha256(_bytes(self.token)).digest()
        )

    # --- session cookies -----------------------------------------------------------------

    def new_session(self, now: float) -> str:
        expires = int(now + SESSION_SECONDS)
        nonce = secrets.token_hex(8)
        body = f"{expires}.{nonce}"
        return f"{body}.{self.sign('session', body)}"

    def session_ok(self, cookie: str, now: float) -> bool:
        expires, _, rest = cookie.partition(".")
        nonce, _, mac = rest.partition(".")
        if not (expires.isascii() and expires.isdigit()) or not self.token:
            return False
        good = same(mac, self.sign("session", f"{expires}.{nonce}"))
        return good and int(expires) > now

    # --- feed keys and CSRF tokens ------------------------------------------------------

    def feed_key(self, path: str) -> str:
        """A feed's read-only key: valid for this path only, revoked with the token."""
        return self.sign("feed", path)[:32]

    def feed_key_ok(self, path: str, key: str) -> bool:
        return bool(self.token) and same(key, self.feed_key(path))

    def csrf(self, session: str) -> str:
        """The form token of a session (of the process, when no sign-in is needed)."""
        return self.sign("csrf", session)[:32]

    def csrf_ok(self, session: str, given: str) -> bool:
        return same(given, self.csrf(session))

    def new_signin_nonce(self) -> str:
        return secrets.token_hex(16)

    def signin_csrf(self, nonce: str) -> str:
        """The sign-in form's token for the nonce in its cookie: only this server can make
        it, so a page elsewhere cannot post the form (it cannot read the cookie either)."""
        return self.sign("signin", nonce)[:32]

    def signin_csrf_ok(self, nonce: str, given: str) -> bool:
        return bool(nonce) and same(given, self.signin_csrf(nonce))


@dataclass
class SignInLimit:
    """At most SIGNIN_FAILURES failed sign-ins per client and SIGNIN_FAILURES_ALL in all per
    SIGNIN_WINDOW: guessing a 32-byte token is hopeless anyway; this keeps logs and CPU calm."""

    clock: Callable[[], float] = time.monotonic
    failures: dict[str, deque[float]] = field(default_factory=dict)
    everyone: deque[float] = field(default_factory=deque)

    def _trim(self, times: deque[float]) -> deque[float]:
        cutoff = self.clock() - SIGNIN_WINDOW
        while times and times[0] < cutoff:
            times.popleft()
        return times

    def allowed(self, client: str) -> bool:
        mine = self._trim(self.failures.get(client, deque()))
        if not mine:
            self.failures.pop(client, None)
        return len(mine) < SIGNIN_FAILURES and len(self._trim(self.everyone)) < SIGNIN_FAILURES_ALL

    def failed(self, client: str) -> None:
        now = self.clock()
        self.failures.setdefault(client, deque()).append(now)
        self.everyone.append(now)
        if len(self.failures) > 10_000:  # a flood of clients: forget the oldest
            self.failures.pop(next(iter(self.failures)))
