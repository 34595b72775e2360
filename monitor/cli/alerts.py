"""`monitor alerts …`: the deliveries not yet sent, and requeueing dead ones; both refuse a
database that needs `monitor db upgrade`.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from monitor.cli.common import EXIT_FAILURES, EXIT_OK, Schema, load_settings, open_store
from monitor.cli.render import Output


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    alerts = commands.add_parser(
        "alerts", parents=[common], help="list undelivered alerts; requeue dead ones"
    )
    actions = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="pending and dead deliveries")
    listing.add_argument("--dead", action="store_true", help="only dead deliveries")
    listing.set_defaults(func=_list)
    retry = actions.add_parser(
        "retry", parents=[common], help="requeue dead deliveries (attempts kept)"
    )
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("ids", nargs="*", default=[], metavar="ID", help="msg_… or alert_… ids")
    target.add_argument("--all-dead", action="store_true", help="every dead delivery")
    retry.set_defaults(func=_retry)


def _retry(args: argparse.Namespace) -> int:
    from monitor.app import utc_now

    with closing(open_store(load_settings(args), Schema.CURRENT)) as store:
        ids = store.requeue(utc_now(), ids=args.ids, all_dead=args.all_dead)
    for delivery_id in ids:
        print(f"requeued {delivery_id}")
    missing = [i for i in args.ids if i not in ids]
    if not ids or (missing and not any(i.startswith("alert_") for i in args.ids)):
        print(
            "monitor: no dead delivery matched " + (" ".join(missing) or "--all-dead"),
            file=sys.stderr,
        )
        return EXIT_FAILURES
    print(f"{len(ids)} deliveries requeued; they go out at the next pass")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from monitor.models import DeliveryStatus

    statuses = [DeliveryStatus.DEAD] if args.dead else [DeliveryStatus.PENDING, DeliveryStatus.DEAD]
    with closing(open_store(load_settings(args), Schema.CURRENT)) as store:
        deliveries = store.list_deliveries(statuses)
    rows = [
        (
            d.id,
            d.status.value,
            d.notifier,
            str(d.attempts),
            d.next_attempt_at.isoformat(timespec="seconds") if d.status == "pending" else "-",
            d.alert.topic.id,
            d.alert.article.title[:40],
            (d.last_error or "")[:60],
        )
        for d in deliveries
    ]
    headers = ("DELIVERY", "STATUS", "NOTIFIER", "ATTEMPTS", "NEXT", "TOPIC", "TITLE", "ERROR")
    Output.to().table(headers, rows, rule=False)
    print(f"{len(rows)} deliveries")
    return EXIT_OK
