"""SF's code tables: service codes, answer codes and opCodes, as our outcomes."""

from __future__ import annotations

from integrations.couriers.base import FailureReason, ShipmentStatus

CREATE_ORDER = "EXP_RECE_CREATE_ORDER"
UPDATE_ORDER = "EXP_RECE_UPDATE_ORDER"
SEARCH_ROUTES = "EXP_RECE_SEARCH_ROUTES"
SEARCH_ORDER = "EXP_RECE_SEARCH_ORDER_RESP"  # 订单结果查询: the outcome of a create by orderId
CANCEL = 2  # EXP_RECE_UPDATE_ORDER's dealType: 1 confirm, 2 cancel
FORWARD_ORDER = "1"  # EXP_RECE_SEARCH_ORDER_RESP's searchType: 1 forward, 2 return order
# SF's errorCode for an orderId it already holds (重复下单): an earlier try got through.
DUPLICATE_ORDER = "8016"
# apiResultCode values after which the call's outcome is unknown and worth retrying.
RETRYABLE_API_CODES = frozenset({"A1005", "A1099"})
# 请求时效已过期: the timestamp is more than 10 minutes from SF's clock. A retry is signed
# afresh.
EXPIRED_API_CODE = "A1002"

# SF's opCodes, each with the normalised status it means.
STATUS_BY_OP_CODE: dict[str, ShipmentStatus] = {
    **dict.fromkeys(("50", "54", "607"), ShipmentStatus.PICKED_UP),
    **dict.fromkeys(
        ("30", "31", "36", "3036", "10", "11", "105", "106", "302", "304", "123"),
        ShipmentStatus.IN_TRANSIT,
    ),
    **dict.fromkeys(("44", "204"), ShipmentStatus.OUT_FOR_DELIVERY),
    **dict.fromkeys(("125", "678"), ShipmentStatus.READY_FOR_PICKUP),
    **dict.fromkeys(("70", "33"), ShipmentStatus.DELIVERY_FAILED),
    **dict.fromkeys(("77", "66", "15", "17", "18", "72"), ShipmentStatus.ON_HOLD),
    **dict.fromkeys(("80", "8000", "679", "128"), ShipmentStatus.DELIVERED),
    **dict.fromkeys(("99", "648", "631"), ShipmentStatus.RETURNING),
}
# SF has about 150 opCodes; one outside the table is a scan on the way.
UNMAPPED_STATUS = ShipmentStatus.IN_TRANSIT
REASON_STATUSES = (ShipmentStatus.DELIVERY_FAILED, ShipmentStatus.ON_HOLD)
# SF's remarks name the cause of a failed delivery; the first matching phrase wins.
REASON_PHRASES = (
    ("拒收", FailureReason.REFUSED),
    ("地址", FailureReason.BAD_ADDRESS),
    ("联系不上", FailureReason.UNREACHABLE),
    ("电话", FailureReason.UNREACHABLE),
    ("不在", FailureReason.NOT_HOME),
    ("无人", FailureReason.NOT_HOME),
)
