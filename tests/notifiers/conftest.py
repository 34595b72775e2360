"""Shared pieces for notifier tests: sample deliveries, free ports, a real SMTP server, test CAs."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from monitor.models import Delivery, TopicRef
from monitor.near import story_id
from monitor.pipeline import alert_id, delivery_id
from monitor.usecases import sample_delivery

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def make_delivery(
    notifier: str = "out", *, title: str | None = None, topic: str = "putin", n: int = 0
) -> Delivery:
    """A delivery like the pipeline makes; `n` varies the article so ids differ."""
    base = sample_delivery(notifier, NOW)
    article = dataclasses.replace(
        base.alert.article,
        title=title if title is not None else f"普丁訪問北韓 第{n}篇",
        content_hash=f"v1:{n:064x}",
    )
    alert = dataclasses.replace(
        base.alert,
        id=alert_id(article.content_hash, topic),
        topic=TopicRef(topic, topic.title()),
        article=article,
        story_id=story_id(article.content_hash),
    )
    return dataclasses.replace(base, id=delivery_id(alert.id, notifier), alert=alert)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    """aiosmtpd handler: keeps every message, can refuse recipients or delay the final reply."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []
        self.refuse: dict[str, str] = {}  # recipient → reply
        self.delay_data = 0.0
        self.auth_seen: list[str] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        if "*" in self.refuse:
            return self.refuse["*"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.messages.append(envelope)  # stored before answering, like a real MTA (F11)
        if self.delay_data:
            await asyncio.sleep(self.delay_data)
        return "250 Message accepted for delivery"


@dataclasses.dataclass
class Certs:
    ca: trustme.CA
    ca_file: Path
    server_context: ssl.SSLContext


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Certs(ca, ca_file, context)


@pytest.fixture(scope="session")
def untrusted_context() -> ssl.SSLContext:
    """A server certificate from a CA the client does not know."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


SmtpFactory = Callable[..., tuple[Controller, Recorder]]


@pytest.fixture
def smtp_server() -> Iterator[SmtpFactory]:
    """Start aiosmtpd controllers on loopback; keyword args go to `Controller`."""
    started: list[Controller] = []

    def start(**kwargs: Any) -> tuple[Controller, Recorder]:
        handler = Recorder()
        if kwargs.pop("with_auth", False):

            def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                              auth_data: Any) -> AuthResult:  # fmt: skip
                assert isinstance(auth_data, LoginPassword)
                handler.auth_seen.append(auth_data.login.decode())
                ok = (auth_data.login, auth_data.password) == (b"alice", b"s3cret")
                return AuthResult(success=ok)

            kwargs["authenticator"] = authenticator
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        return controller, handler

    yield start
    for controller in started:
        controller.stop()
