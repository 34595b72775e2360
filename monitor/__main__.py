"""`python -m monitor`: the same entry point as the `monitor` console script."""

from monitor.cli import entry_point

entry_point()
