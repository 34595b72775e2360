"""monitor: an event-driven news and feed monitor.

Sources produce raw items; the pipeline extracts, hashes, dedupes and matches them; delivery
hands the recorded alerts to notifiers. See DESIGN.md for who may import whom.
"""

__version__ = "0.1.0"
