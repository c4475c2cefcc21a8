"""Start the demo day on empty sandboxes.

The sandboxes keep what they were told in memory for the whole test process, so without
this the day's bills would also list every earlier test's payments of today, and the
pictures of the console would show their discrepancies as if they were the demo's.
"""

from __future__ import annotations

import requests

from integrations.couriers.sandbox import ems, sf
from integrations.payments.sandbox import alipay, public_platform, unionpay, wechatpay
from integrations.revenue.sandbox import views as revenue

REMEMBERED = {
    public_platform: ("_trades", "_out_trade_nos", "_refunds"),
    alipay: ("_trades", "_qr_codes"),
    wechatpay: ("_trades", "_tokens", "_refunds", "_notices"),
    unionpay: ("_txns", "_by_query_id"),
    sf: ("_orders", "_pushes"),
    ems: ("_shipments", "_waybills"),
    revenue: ("_systems",),
}


def sandboxes_forget(base_url: str) -> None:
    for sandbox, names in REMEMBERED.items():
        with sandbox._lock:
            for name in names:
                getattr(sandbox, name).clear()
    requests.post(f"{base_url}/sandbox/banks/_control/reset", timeout=5).raise_for_status()
