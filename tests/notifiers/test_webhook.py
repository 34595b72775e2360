"""The webhook notifier: respx for precise HTTP cases, a real loopback server for retries.

Every signature is checked with the independent `standardwebhooks` reference library, every
body against docs/contract/webhook-v1.schema.json.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import respx
from referencing import Registry, Resource
from standardwebhooks.webhooks import Webhook

from monitor.app import make_app
from monitor.config import load_config
from monitor.errors import NotifyError
from monitor.notifiers.payload import digest_id
from monitor.notifiers.webhook import MAX_BODY, WebhookNotifier, decode_secret
from tests.conftest import CONTRACT, Clock
from tests.notifiers.conftest import free_port, make_delivery

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
URL = "https://hooks.example.org/monitor"


def _validator() -> jsonschema.Draft202012Validator:
    schemas = {p.name: json.loads(p.read_text()) for p in CONTRACT.glob("*.schema.json")}
    resources = []
    for name, schema in schemas.items():
        resource = Resource.from_contents(schema)
        # "$id": "monitor/webhook-v1" makes the $ref "alert-v1.schema.json" resolve to
        # "monitor/alert-v1.schema.json"; register every spelling.
        folder = schema["$id"].rpartition("/")[0]
        resources += [(name, resource), (schema["$id"], resource), (f"{folder}/{name}", resource)]
    registry: Registry[Any] = Registry().with_resources(resources)
    return jsonschema.Draft202012Validator(
        schemas["webhook-v1.schema.json"],
        registry=registry,
        format_checker=jsonschema.FormatChecker(),
    )


VALIDATOR = _validator()


def check(request: httpx.Request | tuple[dict[str, str], bytes]) -> dict[str, Any]:
    """Verify the signature with the reference library and the body with the schema."""
    if isinstance(request, httpx.Request):
        headers, body = dict(request.headers), request.content
    else:
        headers, body = request
    Webhook(SECRET).verify(body, headers)  # raises on a bad signature or stale timestamp
    assert headers["content-type"] == "application/json"
    payload: dict[str, Any] = json.loads(body)
    VALIDATOR.validate(payload)
    return payload


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def hook(**options: Any) -> WebhookNotifier:
    options.setdefault("secret", SECRET)
    return WebhookNotifier("hook", url=options.pop("url", URL), **options)


@respx.mock
def test_alert_created_signed_and_valid() -> None:
    route = respx.post(URL).respond(204)
    delivery = make_delivery()
    moment = now()
    hook(headers={"Authorization": "Bearer t0ken"}).send([delivery], moment)
    request = route.calls.last.request
    payload = check(request)
    assert payload["type"] == "alert.created"
    assert payload["data"]["id"] == delivery.alert.id
    assert payload["data"]["story"] == {"id": delivery.alert.story_id}
    assert request.headers["webhook-id"] == delivery.id
    assert request.headers["webhook-timestamp"] == str(int(moment.timestamp()))
    assert request.headers["authorization"] == "Bearer t0ken"


@respx.mock
@pytest.mark.parametrize(
    ("status", "permanent"),
    [(408, False), (425, False), (429, False), (500, False), (502, False), (503, False),
     (400, True), (401, True), (403, True), (404, True), (422, True)],
)  # fmt: skip
def test_status_classes(status: int, permanent: bool) -> None:
    respx.post(URL).respond(status, text="nope")
    with pytest.raises(NotifyError, match=f"HTTP {status}") as caught:
        hook().send([make_delivery()], now())
    assert caught.value.permanent is permanent and not caught.value.disable


@respx.mock
def test_410_gone_disables_the_notifier() -> None:
    respx.post(URL).respond(410)
    with pytest.raises(NotifyError) as caught:
        hook().send([make_delivery()], now())
    assert caught.value.permanent and caught.value.disable


@respx.mock
def test_retry_after_in_seconds_and_as_a_date() -> None:
    moment = now()
    respx.post(URL).respond(429, headers={"Retry-After": "7"})
    with pytest.raises(NotifyError) as caught:
        hook().send([make_delivery()], moment)
    assert caught.value.retry_after == timedelta(seconds=7)

    date = format_datetime(moment + timedelta(minutes=2), usegmt=True)
    respx.post(URL).respond(503, headers={"Retry-After": date})
    with pytest.raises(NotifyError) as caught:
        hook().send([make_delivery()], moment)
    assert caught.value.retry_after == timedelta(minutes=2)


@respx.mock
def test_redirect_is_not_followed() -> None:
    respx.post(URL).respond(302, headers={"Location": "http://169.254.169.254/"})
    other = respx.route(host="169.254.169.254").respond(200)
    with pytest.raises(NotifyError, match="redirect") as caught:
        hook().send([make_delivery()], now())
    assert not caught.value.permanent and not other.called


@respx.mock
def test_timeout_and_connection_errors_are_transient() -> None:
    respx.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(NotifyError, match="timed out") as caught:
        hook().send([make_delivery()], now())
    assert not caught.value.permanent
    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(NotifyError, match="ConnectError") as caught:
        hook().send([make_delivery()], now())
    assert not caught.value.permanent


@respx.mock
def test_digest_split_under_20kb_with_ids_from_members() -> None:
    route = respx.post(URL).respond(200)
    deliveries = [make_delivery(n=i, title="標題" * 200) for i in range(40)]
    hook().send(deliveries, now())
    seen: list[str] = []
    assert len(route.calls) > 1
    for call in route.calls:
        request = call.request
        assert len(request.content) <= MAX_BODY
        payload = check(request)
        assert payload["type"] == "alert.digest"
        ids = [
            d.id for d in deliveries if d.alert.id in {a["id"] for a in payload["data"]["alerts"]}
        ]
        assert request.headers["webhook-id"] == digest_id(ids)
        seen += [a["id"] for a in payload["data"]["alerts"]]
    assert seen == [d.alert.id for d in deliveries]


@respx.mock
def test_slack_and_discord_presets() -> None:
    slack = respx.post("https://hooks.slack.com/services/T/B/x").respond(200)
    WebhookNotifier("s", url="https://hooks.slack.com/services/T/B/x", preset="slack").send(
        [make_delivery(title="普丁")], now()
    )
    body = json.loads(slack.calls.last.request.content)
    assert "普丁" in body["text"] and "webhook-signature" not in slack.calls.last.request.headers
    discord = respx.post("https://discord.com/api/webhooks/1/x").respond(204)
    WebhookNotifier("d", url="https://discord.com/api/webhooks/1/x", preset="discord").send(
        [make_delivery()], now()
    )
    assert json.loads(discord.calls.last.request.content)["allowed_mentions"] == {"parse": []}


@respx.mock
def test_slack_text_cannot_mention_or_hide_links() -> None:
    slack = respx.post("https://hooks.slack.com/services/T/B/x").respond(200)
    hostile = "<!channel> <https://evil.example|bank> & more"
    WebhookNotifier("s", url="https://hooks.slack.com/services/T/B/x", preset="slack").send(
        [make_delivery(title=hostile)], now()
    )
    text = json.loads(slack.calls.last.request.content)["text"]
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example|bank&gt; &amp; more" in text


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"url": "ftp://x.example/"}, "url"),
        ({"secret": "not-a-secret"}, "secret"),
        ({"secret": "whsec_%%%"}, "secret"),
        ({"secret": "whsec_" + base64.b64encode(b"short").decode()}, "secret"),
        ({"secret": None}, "secret"),
        ({"preset": "teams"}, "preset"),
        ({"headers": {"webhook-id": "x"}}, "headers"),
        ({"timeout": timedelta(0)}, "timeout"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=f"^{key}:"):
        hook(**options)


def test_secret_decoding() -> None:
    assert decode_secret(SECRET) == b"k" * 32


def test_target_hides_tokens_in_path_and_credentials() -> None:
    notifier = WebhookNotifier(
        "s", url="https://user:pw@hooks.slack.com/services/T/B/secret", preset="slack"
    )
    assert notifier.target() == "https://hooks.slack.com/…"


# --- a real receiver on loopback -------------------------------------------------------------


class Receiver:
    """A loopback HTTP server: answers `plan` statuses in turn (then 204), records requests."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay  # seconds to "apply" each request before answering
        self.plan: list[int] = []
        self.fail_each = 0  # answer 500 to the first N requests of every webhook-id
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.accepted: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append((headers, body))
                status = receiver.plan.pop(0) if receiver.plan else 204
                tries = sum(h["webhook-id"] == headers["webhook-id"] for h, _ in receiver.requests)
                if tries <= receiver.fail_each:
                    status = 500
                time.sleep(receiver.delay)
                if status < 300:
                    receiver.accepted.append(headers["webhook-id"])
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def webhook_config(workdir: Path, url: str) -> Path:
    config = workdir / "monitor.toml"
    text = config.read_text(encoding="utf-8").replace(
        'type = "jsonl"\npath = "var/alerts.jsonl"',
        f'type = "webhook"\nurl = "{url}"\nsecret = {{ env = "HOOK_SECRET" }}',
    )
    config.write_text(text + '\n[delivery]\nretry_schedule = ["1s", "1s", "1s"]\njitter = 0\n')
    return config


def test_flaky_receiver_every_delivery_accepted_once(
    workdir: Path, receiver: Receiver, copy_seeds: Any
) -> None:
    copy_seeds(workdir / "inbox")
    settings = load_config(webhook_config(workdir, receiver.url), env={"HOOK_SECRET": SECRET})
    clock = Clock(now())
    receiver.fail_each = 2
    app = make_app(settings, now=clock)
    app.start()
    try:
        first = app.run_once()
        for _ in range(3):
            clock.advance(seconds=2)
            app.deliver()
        counts = app.store.delivery_counts()
    finally:
        app.close()
    assert first.ingest.alerts > 1 and counts == {"sent": first.ingest.alerts}
    assert sorted(receiver.accepted) == sorted(set(receiver.accepted))
    assert len(receiver.accepted) == first.ingest.alerts
    assert len(receiver.requests) == 3 * first.ingest.alerts
    payloads = [check(r) for r in receiver.requests]  # 100 % verify (G5)
    first_id = receiver.requests[0][0]["webhook-id"]
    retries = [h for h, _ in receiver.requests if h["webhook-id"] == first_id]
    assert len(retries) == 3 and len({h["webhook-timestamp"] for h in retries}) == 3
    assert {p["type"] for p in payloads} == {"alert.created"}


def test_410_disables_until_enabled_and_nothing_is_lost(
    workdir: Path, receiver: Receiver, copy_seeds: Any, caplog: pytest.LogCaptureFixture
) -> None:
    copy_seeds(workdir / "inbox")
    settings = load_config(webhook_config(workdir, receiver.url), env={"HOOK_SECRET": SECRET})
    clock = Clock(now())
    receiver.plan = [410]
    app = make_app(settings, now=clock)
    app.start()
    try:
        report = app.run_once()
        assert len(receiver.requests) == 1 and report.delivery.sent == 0
        assert set(app.store.disabled_notifiers()) == {"archive"}
        clock.advance(hours=1)
        app.deliver(retry_now=True)
        assert len(receiver.requests) == 1  # disabled: nothing sent, nothing dead
        assert app.store.delivery_counts() == {"pending": report.ingest.alerts}
        assert caplog.text.count("notifier disabled") == 1  # one line, not one per pass
        assert app.store.enable_notifier("archive")
        app.deliver()
        assert app.store.delivery_counts() == {"sent": report.ingest.alerts}
    finally:
        app.close()
    assert len(receiver.accepted) == report.ingest.alerts
