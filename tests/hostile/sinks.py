"""Capture harnesses for the G1 run: one loopback receiver per network notifier.

The hostile `run --once` pass delivers through every installed notifier; console and jsonl are
captured from stdout and a file, the others by real servers on 127.0.0.1 (the same ones the
notifier tests use):

- email: an in-process aiosmtpd SMTP server (`security = "none"`, allowed for loopback);
- webhook: a receiver recording headers and bodies, signed with `SECRET` (Standard Webhooks);
- apprise: an HTTP server behind Apprise's `json://` URL, recording what it was posted.

`HARNESSES` names the notifier types this module captures; a notifier type installed by a
third party has none, and test_corpus fails until one is added.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiosmtpd.controller import Controller

from tests.notifiers.conftest import Recorder, free_port
from tests.notifiers.test_apprise import Server as AppriseServer
from tests.notifiers.test_webhook import SECRET, Receiver

HARNESSES = ("apprise", "console", "email", "jsonl", "webhook")
SENDER = "monitor@example.org"
RECIPIENTS = ("ops@example.org", "desk@example.org")
SECRET_ENV = {"HOOK_SECRET": SECRET}


@dataclass
class Sinks:
    smtp: Recorder
    smtp_port: int
    webhook: Receiver
    apprise: AppriseServer

    def config(self) -> str:
        """`[[notifiers]]` tables for the three network notifiers (secret from $HOOK_SECRET)."""
        recipients = ", ".join(f'"{r}"' for r in RECIPIENTS)
        return (
            '[[notifiers]]\nname = "mail"\ntype = "email"\nhost = "127.0.0.1"\n'
            f'port = {self.smtp_port}\nsecurity = "none"\nsender = "{SENDER}"\n'
            f"recipients = [{recipients}]\n"
            '[[notifiers]]\nname = "hook"\ntype = "webhook"\n'
            f'url = "{self.webhook.url}"\nsecret = {{ env = "HOOK_SECRET" }}\n'
            '[[notifiers]]\nname = "chat"\ntype = "apprise"\n'
            f'urls = ["json://127.0.0.1:{self.apprise.port}/chat"]\n'
        )


@contextmanager
def sinks() -> Iterator[Sinks]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    receiver = Receiver()
    apprise = AppriseServer()
    apprise_thread = threading.Thread(target=apprise.httpd.serve_forever, daemon=True)
    controller.start()
    receiver.thread.start()
    apprise_thread.start()
    try:
        yield Sinks(recorder, controller.port, receiver, apprise)
    finally:
        controller.stop()
        for httpd in (receiver.server, apprise.httpd):
            httpd.shutdown()
            httpd.server_close()
