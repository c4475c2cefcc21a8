"""EMS's code tables: API codes, answer codes and opCodes, as our outcomes."""

from __future__ import annotations

from integrations.couriers.base import FailureReason, ShipmentStatus

API_ORDER_CREATE = "020003"  # 下单取号
API_ORDER_CANCEL = "020006"  # 订单取消
API_TRACK_QUERY = "040001"  # 运单轨迹信息获取
API_FREIGHT_BILL = "060002"  # 账单
SUCCESS_CODE = "00000"  # retCode of an answer, and code of our answer to a push
PUSH_FAILED_CODE = "S00001"  # our answer to a push we did not take: EMS pushes it again
# The platform could not decide now; whether the call took effect is unknown.
RETRYABLE_CODES = frozenset({"S00001"})

# EMS operation codes (opCode) to the normalised vocabulary: see docs/ems.md.
STATUSES: dict[str, ShipmentStatus] = {
    "203": ShipmentStatus.PICKED_UP,  # 收寄 (collected)
    "303": ShipmentStatus.IN_TRANSIT,  # 揽投配发 (sorted at the collecting office)
    "305": ShipmentStatus.IN_TRANSIT,  # 揽投发运/封车 (left the collecting office)
    "306": ShipmentStatus.IN_TRANSIT,  # 封发 (dispatched from a centre)
    "389": ShipmentStatus.IN_TRANSIT,  # 解车 (unloaded at a centre)
    "912": ShipmentStatus.IN_TRANSIT,  # 转运 (handed over for onward carriage)
    "954": ShipmentStatus.IN_TRANSIT,  # 到达处理中心 (arrived at a centre)
    "989": ShipmentStatus.IN_TRANSIT,  # 离开处理中心 (left a centre)
    "702": ShipmentStatus.OUT_FOR_DELIVERY,  # 投递 (with the courier for delivery)
    "703": ShipmentStatus.READY_FOR_PICKUP,  # 待自提 (at a pickup point)
    "704": ShipmentStatus.DELIVERED,  # 妥投
    "705": ShipmentStatus.DELIVERY_FAILED,  # 未妥投
    "706": ShipmentStatus.ON_HOLD,  # 滞留
    "711": ShipmentStatus.RETURNING,  # 退回
    "712": ShipmentStatus.RETURNED,  # 退回妥投 (back with the sender)
    "713": ShipmentStatus.LOST_DAMAGED,  # 丢失/损毁
}
# Words of opDesc that tell why a delivery failed or a parcel is held.
REASONS: tuple[tuple[str, FailureReason], ...] = (
    ("拒收", FailureReason.REFUSED),
    ("地址", FailureReason.BAD_ADDRESS),
    ("无人", FailureReason.NOT_HOME),
    ("电话", FailureReason.UNREACHABLE),
)
FAILURES = frozenset({ShipmentStatus.DELIVERY_FAILED, ShipmentStatus.ON_HOLD})
