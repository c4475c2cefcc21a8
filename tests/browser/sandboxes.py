"""Start the demo day on empty sandboxes.

The sandboxes keep what they were told in memory for the whole test process, so without
this the day's bills would also list every earlier test's payments of today, and the
pictures of the console would show their discrepancies as if they were the demo's.
"""

from __future__ import annotations

import requests

from sandboxes.alipay import views as alipay
from sandboxes.ems import views as ems
from sandboxes.public_platform import views as public_platform
from sandboxes.revenue import views as revenue
from sandboxes.sf import views as sf
from sandboxes.unionpay import views as unionpay
from sandboxes.wechatpay import views as wechatpay

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
