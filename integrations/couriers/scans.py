"""What Chinese couriers write in a scan's free text, read the same way for all of them."""

from __future__ import annotations

import re

from integrations.couriers.base import ShipmentStatus

# Who signed for a delivered parcel, as the scan's text names them:
# "快件已签收，签收人：张三", "签收人是：张三", "他人收，签收人：门卫";
# "已签收,感谢使用顺丰" or "已妥投，本人签收" names nobody.
_SIGNER = re.compile(r"签收人是?\s*[:：]\s*([^\s,，.。;；!！、【】]+)")


def signer_for(status: ShipmentStatus, text: str) -> str:
    """Who signed, read from a delivered scan's text; "" for any other scan or no name."""
    if status is not ShipmentStatus.DELIVERED:
        return ""
    match = _SIGNER.search(text)
    return match[1] if match else ""
