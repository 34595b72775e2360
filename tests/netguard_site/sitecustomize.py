"""Put on PYTHONPATH by tests/conftest.py: subprocesses of the suite get the loopback-only
socket guard of tests/netguard.py too (RELIABILITY.md T-1)."""

import os
import sys

if os.environ.get("MONITOR_TEST_NETGUARD_LOG"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        from tests.netguard import install
    finally:
        del sys.path[0]
    install(log_to_file=True)
