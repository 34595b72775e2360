"""Email notifier: one multipart (text + HTML) message per delivery over SMTP with verified TLS.

Owns the SMTP conversation and the rendering of messages. Must not let feed HTML or a header
injection through: the HTML part is built from escaped plain text, the subject is one line.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import smtplib
import socket
import ssl
import string
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from monitor.errors import NotifyError
from monitor.models import Alert, Delivery
from monitor.notifiers.payload import also_line, by_story, digest_id, iso_utc
from monitor.plugins import Notifier
from monitor.text import one_line, safe_text

log = logging.getLogger(__name__)

DEFAULT_SUBJECT = "[monitor] {topic.title}: {article.title}"
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
# The only fields a subject template may name: plain strings, no attribute traversal.
SUBJECT_FIELDS = ("topic.id", "topic.title", "article.title", "article.source", "article.url",
                  "alert.id")  # fmt: skip
SUBJECT_LIMIT = 200  # characters, RELIABILITY.md EM-5
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def render_subject(template: str, fields: Mapping[str, str]) -> str:
    """Fill `{topic.title}`-style fields from `fields`; no format specs, no conversions.

    Nothing is evaluated: `string.Formatter.parse` only splits the template, so a template can
    never reach an attribute of a Python object (str.format's `{0.__class__}` problem).
    """
    out = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(f"subject: invalid template: {e}") from e
    for literal, field, spec, conversion in parsed:
        out.append(literal)
        if field is None:
            continue
        if field not in SUBJECT_FIELDS:
            raise ValueError(
                f"subject: unknown field {{{field}}} (allowed: {', '.join(SUBJECT_FIELDS)})"
            )
        if spec or conversion:
            raise ValueError(f"subject: field {{{field}}} takes no format spec or conversion")
        out.append(fields[field])
    return "".join(out)


def subject_fields(alert: Alert) -> dict[str, str]:
    return {
        "topic.id": alert.topic.id,
        "topic.title": alert.topic.title,
        "article.title": alert.article.title,
        "article.source": alert.article.source,
        "article.url": alert.article.url or "",
        "alert.id": alert.id,
    }


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EmailNotifier(Notifier):
    """Sends each delivery (or digest) as one message to every recipient.

    TLS is always verified (RELIABILITY.md F9: smtplib's default STARTTLS context is not), and
    AUTH is only ever sent over TLS. The Message-ID derives from the delivery id, so a retry
    after a lost final reply (F11) repeats the same Message-ID for the receiver to drop.
    """

    def __init__(
        self,
        name: str,
        *,
        host: str,
        sender: str,
        recipients: Sequence[str],
        port: int | None = None,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        subject: str = DEFAULT_SUBJECT,
        timeout: timedelta = timedelta(seconds=60),
        connect_timeout: timedelta = timedelta(seconds=30),
        data_timeout: timedelta = timedelta(seconds=300),
        ca_file: Path | None = None,
    ) -> None:
        super().__init__(name)
        if not host or any(c.isspace() for c in host):
            raise ValueError("host: a host name or address")
        if security not in DEFAULT_PORTS:
            raise ValueError("security: must be 'starttls', 'tls' or 'none'")
        if security == "none" and not is_loopback(host):
            raise ValueError(
                f"security: 'none' (no TLS) is allowed only for a loopback host, not {host!r}"
            )
        if port is not None and not 0 < port < 65536:
            raise ValueError("port: must be 1-65535")
        if "@" not in sender or one_line(sender) != sender:
            raise ValueError("sender: an address such as monitor@example.org")
        if not recipients:
            raise ValueError("recipients: at least one address")
        for address in recipients:
            if "@" not in address or one_line(address) != address or "," in address:
                raise ValueError(f"recipients: not an address: {address!r}")
        if (username is None) != (password is None):
            raise ValueError("password: username and password go together")
        if username is not None and security == "none":
            raise ValueError("username: AUTH is only sent over TLS; use starttls or tls")
        for option, value in (("timeout", timeout), ("connect_timeout", connect_timeout),
                              ("data_timeout", data_timeout)):  # fmt: skip
            if value <= timedelta(0):
                raise ValueError(f"{option}: must be positive")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"ca_file: no such file {ca_file}")
        render_subject(subject, dict.fromkeys(SUBJECT_FIELDS, ""))  # reject bad templates now
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.username = username
        self._password = password
        self.sender = sender
        self.recipients = tuple(recipients)
        self.subject = subject
        self.timeout = timeout.total_seconds()
        self.connect_timeout = connect_timeout.total_seconds()
        self.data_timeout = data_timeout.total_seconds()
        self.ca_file = Path(ca_file) if ca_file is not None else None

    def target(self) -> str:
        return f"smtp {self.security} {self.host}:{self.port} to {len(self.recipients)} recipients"

    # --- rendering ----------------------------------------------------------------------

    def build_message(self, deliveries: Sequence[Delivery], now: datetime) -> EmailMessage:
        """The message for one delivery, or one digest listing several alerts."""
        alerts = [d.alert for d in deliveries]
        if len(deliveries) == 1:
            message_id = deliveries[0].id
            subject = render_subject(self.subject, subject_fields(alerts[0]))
        else:
            message_id = digest_id([d.id for d in deliveries])
            topics = sorted({a.topic.title for a in alerts})
            subject = f"[monitor] {len(alerts)} alerts: {', '.join(topics)}"
        topic_ids = {a.topic.id for a in alerts}
        list_id = topic_ids.pop() if len(topic_ids) == 1 else f"digest-{self.name}"
        message = EmailMessage(policy=SMTP)
        # F10: a title with CR/LF would make EmailMessage refuse the header (a poison alert).
        message["Subject"] = one_line(subject, SUBJECT_LIMIT)
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = format_datetime(now)
        message["Message-ID"] = f"<{message_id}@monitor>"
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
        message["List-Id"] = f"<{list_id}.monitor>"
        message.set_content(render_text(alerts), charset="utf-8")
        message.add_alternative(render_html(alerts), subtype="html", charset="utf-8")
        return message

    # --- sending ------------------------------------------------------------------------

    def send(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        try:
            message = self.build_message(deliveries, now)
            data = message.as_bytes()
        except (ValueError, UnicodeError, LookupError) as e:
            # A poison alert (F10, DL-9): retrying renders the same failure; dead-letter it.
            raise NotifyError(
                self.name, f"cannot render message: {type(e).__name__}: {e}", permanent=True
            ) from e
        try:
            self._transmit(data, message["Message-ID"])
        except NotifyError:
            raise
        except smtplib.SMTPResponseException as e:
            raise self._reply_error(e.smtp_code, e.smtp_error) from e
        except smtplib.SMTPNotSupportedError as e:
            raise NotifyError(self.name, f"server refused: {e}") from e
        except ssl.SSLError as e:  # incl. certificate verification failures
            raise NotifyError(self.name, f"TLS failed with {self.host}:{self.port}: {e}") from e
        except (smtplib.SMTPException, OSError) as e:  # disconnects, timeouts, refusals
            kind = "timed out" if isinstance(e, TimeoutError | socket.timeout) else "failed"
            raise NotifyError(
                self.name, f"SMTP {kind} with {self.host}:{self.port}: {type(e).__name__}: {e}"
            ) from e

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()  # verifies chain and host name (F9)
        if self.ca_file is not None:
            context.load_verify_locations(cafile=str(self.ca_file))
        return context

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.connect_timeout, context=self._context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.connect_timeout)

    def _transmit(self, data: bytes, message_id: str) -> None:
        smtp = self._connect()
        try:
            _set_timeout(smtp, self.timeout)
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    # Stripping attack or a misconfigured server: never fall back to clear text.
                    raise NotifyError(self.name, f"{self.host} does not offer STARTTLS; not sent")
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password)
            smtp.mail(self.sender)
            accepted, refusals = [], []
            for recipient in self.recipients:
                code, reply = smtp.rcpt(recipient)
                if code in (250, 251):
                    accepted.append(recipient)
                else:
                    refusals.append((recipient, code, reply))
                    log.warning(
                        "recipient refused notifier=%s recipient=%s code=%d reply=%r",
                        self.name, recipient, code, _text(reply),
                    )  # fmt: skip
            if not accepted:
                smtp.rset()
                permanent = all(code >= 500 for _, code, _ in refusals)
                summary = "; ".join(f"{r}: {c} {_text(t)}" for r, c, t in refusals)
                raise NotifyError(
                    self.name, f"every recipient refused: {summary}", permanent=permanent
                )
            # RFC 5321 §4.5.3.2: the reply to the final dot may take long; a short wait here
            # is what makes servers keep messages the client thinks failed (F11).
            _set_timeout(smtp, self.data_timeout)
            smtp.data(data)
            log.debug(
                "mail accepted notifier=%s message_id=%s recipients=%d",
                self.name, message_id, len(accepted),
            )  # fmt: skip
        finally:
            try:
                _set_timeout(smtp, min(self.timeout, 10.0))
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _reply_error(self, code: int, reply: bytes | str) -> NotifyError:
        # RFC 5321 §4.2.1: 4yz transient (retry), 5yz permanent.
        return NotifyError(
            self.name, f"SMTP server replied {code} {_text(reply)}", permanent=code >= 500
        )


def _set_timeout(smtp: smtplib.SMTP, seconds: float) -> None:
    sock = getattr(smtp, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return one_line(text, 300)


def render_text(alerts: Sequence[Alert]) -> str:
    blocks = []
    for alert, *others in by_story(alerts):
        article = alert.article
        lines = [f"{alert.topic.title}: {article.title}", ""]
        if article.url:
            lines.append(article.url)
        lines.append(f"source: {article.source} ({article.location})")
        if article.published:
            lines.append(f"published: {iso_utc(article.published)}")
        lines.append(f"matched: {', '.join(alert.matched)} (found: {', '.join(alert.found)})")
        lines += ["", safe_text(alert.snippet), "", f"alert id: {alert.id}"]
        lines += [one_line(also_line(other)) for other in others]
        blocks.append("\n".join(lines))
    return ("\n\n" + "-" * 40 + "\n\n").join(blocks) + "\n"


def render_html(alerts: Sequence[Alert]) -> str:
    """Our own template over escaped text: no feed HTML can ever be in it (EM-6)."""
    e = html.escape
    sections = []
    for alert, *others in by_story(alerts):
        article = alert.article
        title = e(article.title)
        if article.url and article.url.startswith(("http://", "https://")):
            title = f'<a href="{e(article.url)}">{title}</a>'
        meta = f"source: {e(article.source)} ({e(article.location)})"
        if article.published:
            meta += f" · published {e(iso_utc(article.published))}"
        sections.append(
            f"<h2>{e(alert.topic.title)}: {title}</h2>\n"
            f"<p>{meta}<br>\nmatched: {e(', '.join(alert.matched))} "
            f"(found: {e(', '.join(alert.found))})</p>\n"
            f"<blockquote>{e(safe_text(alert.snippet))}</blockquote>\n"
            f"<p><small>alert id: {e(alert.id)}</small></p>"
            + "".join(f"\n<p>{e(one_line(also_line(other)))}</p>" for other in others)
        )
    body = "\n<hr>\n".join(sections)
    return f"<!DOCTYPE html>\n<html><body>\n{body}\n</body></html>\n"
