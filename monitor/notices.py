"""How an operator notice reads to people: its English title and text in the shape of an alert.

Pure and stateless. It sits beside `models` (not in the store, which only maps rows, nor in
`notifiers`, which the store may not import) because every reader of `Delivery.alert` needs it:
the notifiers that only render alerts (console, email, chat) and `monitor alerts list`.
"""

from __future__ import annotations

from monitor.models import Alert, Article, Notice, TopicRef

# A notice is no article: this stands in for the content hash the alert shape requires.
_NO_CONTENT = "v1:" + "0" * 64


def notice_as_alert(notice: Notice) -> Alert:
    """A plain-text rendering of a notice in the shape of an alert, for notifiers that only
    render alerts (console, email, chat): title and text say what happened and since when."""
    data = notice.data
    if notice.event == "source.failing":
        title = f"Source {notice.source} failing since {data.get('since', '?')}"
        text = (
            f"{data.get('consecutive_failures', '?')} consecutive failures; last error: "
            f"{data.get('error', '?')}"
        )
    else:
        title = f"Source {notice.source} recovered"
        text = f"Polled successfully again after failing since {data.get('since', '?')}."
    url = data.get("url")
    article = Article(
        source=notice.source,
        location=str(url or notice.source),
        url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        guid=None,
        title=title,
        text=text,
        published=None,
        content_hash=_NO_CONTENT,
    )
    topic = TopicRef(notice.event.replace(".", "-"), notice.event)
    return Alert(notice.id, topic, article, (), (), text, notice.created_at)
