"""Seed formats, HTML → text, decoding and bad files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.errors import ExtractError
from monitor.extract import extract
from monitor.models import RawItem
from tests.conftest import END_MARKERS, SEEDS

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def item(content: bytes | str, location: str = "x.txt", content_type: str = "text/plain",
         end_markers: tuple[str, ...] = END_MARKERS) -> RawItem:  # fmt: skip
    data = content.encode("utf-8") if isinstance(content, str) else content
    return RawItem("test", location, data, content_type, NOW, {"end_markers": end_markers})


def test_captured_feed_item_format() -> None:
    path = SEEDS / "000_e111a6c8e310c3f6.txt"
    article = extract(item(path.read_bytes(), path.name))
    assert article.title == "媒體：美從俄取得情資 稱中國有意軍援俄國"
    assert article.url is not None and article.url.startswith("https://www.dw.com/zh/")
    assert article.published == datetime(2023, 3, 5, 8, 37, 28, 978000, tzinfo=UTC)
    assert article.text.startswith("（德國之聲中文網）近期美國政府與北約官員透露")
    assert "2023-03-05" not in article.text  # the published marker is metadata
    assert "此圖為新華社" not in article.text  # image caption
    assert "版權聲明" not in article.text  # copyright line
    assert "敦促俄國撤軍" in article.text  # words of inline links are kept
    assert "<" not in article.text and "weserv" not in article.text
    assert len(article.text.splitlines()) > 5  # paragraphs are lines


def test_captured_item_with_embed_keeps_no_iframe_text() -> None:
    path = SEEDS / "001_440fa6a656e67998.txt"
    article = extract(item(path.read_bytes(), path.name))
    assert "youtube" not in article.text
    assert article.published == datetime(2024, 6, 21, 5, 29, 2, 698000, tzinfo=UTC)


def test_plain_text_title_is_first_sentence_and_end_markers_cut_the_chrome() -> None:
    path = SEEDS / "002_7d880239782f64d9.txt"
    article = extract(item(path.read_bytes(), path.name))
    assert article.title.startswith("中國自俄烏戰爭以來")
    assert len(article.title) <= 120
    assert article.url is None and article.published is None
    assert "蒲亭" in article.text
    assert "參考新聞來源" not in article.text
    assert "台灣" not in article.text  # the Taiwan teasers live after 編輯推薦
    assert "customplayer-app" not in article.text


def test_without_end_markers_the_chrome_stays() -> None:
    path = SEEDS / "002_7d880239782f64d9.txt"
    article = extract(item(path.read_bytes(), path.name, end_markers=()))
    assert "台灣" in article.text


def test_markdown_heading_is_the_title() -> None:
    article = extract(item("# Putin visits Pyongyang\n\nThe Russian president arrived.",
                           "a.md", "text/markdown"))  # fmt: skip
    assert article.title == "Putin visits Pyongyang"
    assert article.text == "The Russian president arrived."


def test_long_first_sentence_is_cut_to_120_characters() -> None:
    article = extract(item("字" * 300))
    assert len(article.title) == 120 and article.title.endswith("…")


def test_html_document_title_from_title_tag_or_first_h1() -> None:
    page = ("<html><head><title>Talks &amp; arms</title><script>var x='中國';</script></head>"
            "<body><h1>Heading</h1><p>First <b>para</b>graph.</p><p>Second<br>line</p>"
            "<style>p{}</style></body></html>")  # fmt: skip
    article = extract(item(page, "p.html", "text/html"))
    assert article.title == "Talks & arms"
    assert article.text == "Heading\nFirst paragraph.\nSecond\nline"
    no_title = extract(item("<h1>Only heading</h1><p>Body text here.</p>", "q.html", "text/html"))
    assert no_title.title == "Only heading"


def test_hostile_html_never_survives_as_markup() -> None:
    page = ('<p>ok <img src=x onerror=alert(1)><svg><script>evil()</script></svg>'
            '<a href="jav&#x09;ascript:alert(1)">link words</a><iframe src="//e"></iframe></p>')  # fmt: skip
    article = extract(item(page, "h.html", "text/html"))
    assert article.text == "ok link words"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"   \n\t  ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "binary"),
        (bytes(range(1, 32)) * 20, "binary"),
    ],
)
def test_bad_files_raise_a_clear_reason(content: bytes, reason: str) -> None:
    with pytest.raises(ExtractError) as error:
        extract(item(content, "bad.txt"))
    assert reason in error.value.reason
    assert error.value.location == "bad.txt"


@pytest.mark.parametrize("encoding", ["big5", "gb18030", "utf-16", "utf-8-sig"])
def test_legacy_and_bom_encodings_decode(encoding: str) -> None:
    text = ("中國外交部長王毅透過錄影影片，向俄羅斯外交部長拉夫羅夫及與會來賓發表談話，"
            "強調中國與俄羅斯的友好關係。雙方同意繼續在能源與貿易領域合作。")  # fmt: skip
    article = extract(item(text.encode(encoding)))
    assert article.text == text


def test_captured_item_with_a_non_http_link_keeps_no_url() -> None:
    raw = "<!--1678007825000-->\n[Title](javascript:alert(1))\n------\n<p>" + "內容" * 30 + "</p>"
    article = extract(item(raw))
    assert article.title == "Title"
    assert article.url is None
