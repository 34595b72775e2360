"""`monitor notifiers …`: the configured notifiers and their state, a sample alert through one,
and re-enabling one disabled by HTTP 410. `test` needs no database; `list` and `enable` refuse
an outdated schema.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from monitor.cli.common import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_USAGE,
    Schema,
    load_settings,
    open_store,
)
from monitor.cli.render import Output, duration


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    notifiers = commands.add_parser(
        "notifiers", parents=[common], help="list, test and re-enable notifiers"
    )
    actions = notifiers.add_subparsers(dest="notifiers_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[common], help="table of notifiers: name, type, target, state"
    )
    listing.set_defaults(func=_list)
    test = actions.add_parser(
        "test", parents=[common], help="send a sample alert through one notifier"
    )
    test.add_argument("name")
    test.set_defaults(func=_test)
    enable = actions.add_parser(
        "enable", parents=[common], help="re-enable a notifier disabled by HTTP 410"
    )
    enable.add_argument("name")
    enable.set_defaults(func=_enable)


def _test(args: argparse.Namespace) -> int:
    from monitor.app import utc_now
    from monitor.errors import NotifyError
    from monitor.usecases import try_notifier

    settings = load_settings(args)
    by_name = {n.name: n for n in settings.notifiers}
    chosen = by_name.get(args.name)
    if chosen is None:
        print(
            f"monitor: no notifier named {args.name!r} (configured: "
            f"{', '.join(by_name) or 'none'})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        try_notifier(chosen.notifier, utc_now())
    except NotifyError as e:
        kind = "permanent" if e.permanent else "retryable"
        print(f"FAILED {args.name} ({chosen.type}): {e.reason} [{kind}]")
        return EXIT_FAILURES
    finally:
        chosen.notifier.close()
    print(f"ok: sample alert sent through {args.name} ({chosen.type})")
    return EXIT_OK


def _enable(args: argparse.Namespace) -> int:
    with closing(open_store(load_settings(args), Schema.CURRENT)) as store:
        enabled = store.enable_notifier(args.name)
    if enabled:
        print(f"enabled {args.name}: its pending deliveries go out at the next pass")
    else:
        print(f"{args.name} was not disabled")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    with closing(open_store(settings, Schema.CURRENT)) as store:
        disabled = store.disabled_notifiers()
    rows = []
    for n in settings.notifiers:
        state = "enabled"
        if n.name in disabled:
            d = disabled[n.name]
            state = f"DISABLED since {d.disabled_at.isoformat(timespec='seconds')}: {d.reason}"
        if n.digest is not None:
            state += f" (digest every {duration(n.digest.total_seconds())})"
        rows.append((n.name, n.type, n.notifier.target(), state))
    Output.to().table(("NAME", "TYPE", "TARGET", "STATE"), rows, rule=False)
    return EXIT_OK
