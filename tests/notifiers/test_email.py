"""The email notifier against a real in-process SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import NotifyError
from monitor.notifiers.email import EmailNotifier, render_subject
from tests.notifiers.conftest import NOW, Certs, SmtpFactory, free_port, make_delivery


def notifier(port: int, **options: Any) -> EmailNotifier:
    options.setdefault("security", "none")
    return EmailNotifier(
        "mail",
        host="127.0.0.1",
        port=port,
        sender="monitor@example.org",
        recipients=options.pop("recipients", ("a@example.org", "b@example.org")),
        **options,
    )


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def test_plain_delivery_headers_and_both_parts(smtp_server: SmtpFactory) -> None:
    controller, handler = smtp_server()
    delivery = make_delivery(title="普丁時隔24年再訪北韓\r\nBcc: evil@example.org <b>")
    notifier(controller.port).send([delivery], NOW)

    (envelope,) = handler.messages
    assert envelope.rcpt_tos == ["a@example.org", "b@example.org"]
    message = parse(envelope.original_content)
    assert message["Subject"] == "[monitor] Putin: 普丁時隔24年再訪北韓 Bcc: evil@example.org <b>"
    assert message["Bcc"] is None and not message.defects
    assert message["Message-ID"] == f"<{delivery.id}@monitor>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Id"] == "<putin.monitor>"
    assert message["Date"] == "Mon, 23 Nov 2026 08:00:00 +0000"
    assert message["From"] == "monitor@example.org"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_payload()  # type: ignore[misc]
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert "普丁時隔24年再訪北韓" in text.get_content()
    assert delivery.alert.id in text.get_content()
    assert "&lt;b&gt;" in html.get_content() and "<b>" not in html.get_content()
    assert '<a href="https://example.org/monitor/sample-alert">' in html.get_content()
    # The raw subject is RFC 2047-encoded ASCII on the wire.
    raw_subject = next(
        line for line in envelope.original_content.split(b"\r\n") if line.startswith(b"Subject:")
    )
    assert raw_subject.isascii() and b"=?utf-8?" in raw_subject


def test_subject_template_allows_only_listed_fields() -> None:
    fields = {"topic.id": "t", "topic.title": "T", "article.title": "A",
              "article.source": "s", "article.url": "u", "alert.id": "x"}  # fmt: skip
    assert render_subject("{topic.id}/{alert.id}: {article.title}", fields) == "t/x: A"
    for bad in ("{article.__class__}", "{0}", "{topic.title!r}", "{topic.title:>99}", "{x"):
        with pytest.raises(ValueError, match="subject"):
            render_subject(bad, fields)
    with pytest.raises(ValueError, match="subject"):
        notifier(25, subject="{article.text}")


def test_starttls_with_a_trusted_test_ca(smtp_server: SmtpFactory, certs: Certs) -> None:
    controller, handler = smtp_server(
        tls_context=certs.server_context, require_starttls=True, with_auth=True
    )
    mail = notifier(
        controller.port, security="starttls", ca_file=certs.ca_file,
        username="alice", password="s3cret",
    )  # fmt: skip
    mail.send([make_delivery()], NOW)
    assert len(handler.messages) == 1
    assert handler.auth_seen == ["alice"]


def test_implicit_tls(smtp_server: SmtpFactory, certs: Certs) -> None:
    controller, handler = smtp_server(ssl_context=certs.server_context)
    notifier(controller.port, security="tls", ca_file=certs.ca_file).send([make_delivery()], NOW)
    assert len(handler.messages) == 1


def test_untrusted_certificate_is_refused(smtp_server: SmtpFactory, untrusted_context: Any) -> None:
    controller, handler = smtp_server(
        tls_context=untrusted_context, require_starttls=True, with_auth=True
    )
    mail = notifier(controller.port, security="starttls", username="alice", password="s3cret")
    with pytest.raises(NotifyError, match="certificate") as caught:
        mail.send([make_delivery()], NOW)
    assert not caught.value.permanent
    assert handler.messages == [] and handler.auth_seen == []


def test_server_without_starttls_is_refused(smtp_server: SmtpFactory) -> None:
    controller, handler = smtp_server(with_auth=True, auth_require_tls=False)
    mail = notifier(controller.port, security="starttls", username="alice", password="s3cret")
    with pytest.raises(NotifyError, match="STARTTLS"):
        mail.send([make_delivery()], NOW)
    assert handler.messages == [] and handler.auth_seen == []


def test_every_recipient_rejected_is_permanent(smtp_server: SmtpFactory) -> None:
    controller, handler = smtp_server()
    handler.refuse["*"] = "550 5.1.1 No such user"
    with pytest.raises(NotifyError, match="every recipient refused") as caught:
        notifier(controller.port).send([make_delivery()], NOW)
    assert caught.value.permanent and handler.messages == []


def test_every_recipient_deferred_is_transient(smtp_server: SmtpFactory) -> None:
    controller, handler = smtp_server()
    handler.refuse["*"] = "451 4.3.0 Try again later"
    with pytest.raises(NotifyError) as caught:
        notifier(controller.port).send([make_delivery()], NOW)
    assert not caught.value.permanent


def test_one_recipient_rejected_the_others_get_it(
    smtp_server: SmtpFactory, caplog: pytest.LogCaptureFixture
) -> None:
    controller, handler = smtp_server()
    handler.refuse["b@example.org"] = "550 5.1.1 No such user"
    recipients = ("a@example.org", "b@example.org", "c@example.org")
    notifier(controller.port, recipients=recipients).send([make_delivery()], NOW)
    (envelope,) = handler.messages
    assert envelope.rcpt_tos == ["a@example.org", "c@example.org"]
    assert "recipient refused notifier=mail recipient=b@example.org code=550" in caplog.text


@pytest.fixture
def dropping_server() -> Iterator[int]:
    """Accepts connections and closes them at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def test_connection_dropped_is_transient(dropping_server: int) -> None:
    with pytest.raises(NotifyError, match="SMTPServerDisconnected") as caught:
        notifier(dropping_server).send([make_delivery()], NOW)
    assert not caught.value.permanent


def test_nothing_listening_is_transient() -> None:
    with pytest.raises(NotifyError, match="ConnectionRefusedError") as caught:
        notifier(free_port()).send([make_delivery()], NOW)
    assert not caught.value.permanent


def test_late_final_reply_retry_repeats_the_message_id(smtp_server: SmtpFactory) -> None:
    """F11: the server keeps a message the client gave up on; the retry must be recognisable."""
    controller, handler = smtp_server()
    handler.delay_data = 1.0
    mail = notifier(controller.port, data_timeout=timedelta(seconds=0.3))
    delivery = make_delivery()
    started = time.monotonic()
    with pytest.raises(NotifyError, match="timed out") as caught:
        mail.send([delivery], NOW)
    assert time.monotonic() - started < 1.0
    assert not caught.value.permanent
    handler.delay_data = 0
    mail.send([delivery], NOW + timedelta(seconds=5))
    ids = [parse(m.original_content)["Message-ID"] for m in handler.messages]
    assert ids == [f"<{delivery.id}@monitor>"] * 2  # at most one duplicate, same Message-ID


def test_digest_is_one_message_listing_every_alert(smtp_server: SmtpFactory) -> None:
    controller, handler = smtp_server()
    deliveries = [make_delivery(n=i, topic="putin" if i % 2 else "nato") for i in range(3)]
    notifier(controller.port).send(deliveries, NOW)
    (envelope,) = handler.messages
    message = parse(envelope.original_content)
    assert message["Subject"] == "[monitor] 3 alerts: Nato, Putin"
    text = message.get_body(("plain",))
    assert text is not None
    content = text.get_content()
    assert all(d.alert.id in content for d in deliveries)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"security": "none", "host": "smtp.example.org"}, "security"),
        ({"security": "ssl"}, "security"),
        ({"recipients": ()}, "recipients"),
        ({"recipients": ("not-an-address",)}, "recipients"),
        ({"username": "alice"}, "password"),
        ({"username": "alice", "password": "x", "security": "none"}, "username"),
        ({"port": 70000}, "port"),
        ({"ca_file": Path("/nonexistent/ca.pem"), "security": "tls"}, "ca_file"),
        ({"subject": "{article.text}"}, "subject"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], key: str) -> None:
    host = options.pop("host", "127.0.0.1")
    with pytest.raises(ValueError, match=f"^{key}:"):
        EmailNotifier(
            "mail", host=host, sender="m@example.org",
            recipients=options.pop("recipients", ("a@example.org",)), **options,
        )  # fmt: skip


def test_default_ports_follow_security() -> None:
    def port(security: str) -> int:
        return EmailNotifier(
            "m", host="localhost", sender="m@x.org", recipients=["a@x.org"], security=security
        ).port

    assert (port("starttls"), port("tls"), port("none")) == (587, 465, 25)
