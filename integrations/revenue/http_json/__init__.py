"""The revenue push protocol over HTTPS and signed JSON (docs/revenue_push.md).

This package is the only code that knows the wire format. Every request carries the app
key, a timestamp, a nonce and an HMAC signature, HMAC-SHA256 or HMAC-SM3 as agreed with
the system; the receiver answers JSON with ``code`` ``"0"`` on success, and serves each
day's records as a CSV file.
"""

from integrations.revenue.http_json.records import DAILY_COLUMNS, parse_daily_records
from integrations.revenue.http_json.system import HttpJsonRevenueSystem

__all__ = ["DAILY_COLUMNS", "HttpJsonRevenueSystem", "parse_daily_records"]
