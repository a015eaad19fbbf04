"""tradeops sample trading service.

Three long-running processes share one data directory:

* ``python -m trader.api``       – JSON HTTP API (run in blue/green slots)
* ``python -m trader.worker``    – singleton that processes new signals
* ``python -m trader.scheduler`` – periodic housekeeping (retention)
"""

__version__ = "1.0.0"
