"""What each notice says: its template as approved by the SMS gateway, and how it reads.

A text is the template as registered with Tencent Cloud SMS: ``{1}``, ``{2}``... are its
parameters, given with each message; ``{portal}`` is the portal's address
(settings.SMS["portal_url"]), which the gateway allows only as a constant of an approved
text, never as a parameter. Each kind's template id is settings.SMS["templates"][kind].
The parameters are amounts and short codes only: never a name, an ID number or an address.
"""

from __future__ import annotations

import re

from notices.models import NoticeKind

TEXTS: dict[str, str] = {
    NoticeKind.PAYMENT_RECEIVED: (
        "您缴款码尾号{1}的缴款{2}元已收到，财政电子票据开具后将短信通知您。"
    ),
    NoticeKind.RECEIPT_ISSUED: (
        "您缴款码尾号{1}的缴款{2}元已开具财政电子票据（票据号码{3}），请登录 {portal} 查验下载。"
    ),
    NoticeKind.SHIPMENT_BOOKED: (
        "您的办件结果已预约{1}寄递，运单号{2}，可登录 {portal} 查询物流进度，请留意查收。"
    ),
    NoticeKind.OUT_FOR_DELIVERY: "您的办件结果（运单号{1}）正在派送，请保持电话畅通。",
    NoticeKind.DELIVERY_FAILED: (
        "您的办件结果（运单号{1}）派送未成功，"
        "请登录 {portal} 选择再次派送、网点自取或退回办理机关。"
    ),
    NoticeKind.DELIVERED: "您的办件结果（运单号{1}）已签收，如非本人签收请登录 {portal} 反馈。",
}

_PARAMETER = re.compile(r"\{([1-9][0-9]*)\}")


def parameter_count(kind: str) -> int:
    return len(set(_PARAMETER.findall(TEXTS[kind])))


def render(kind: str, params: tuple[str, ...], *, sign_name: str, portal_url: str) -> str:
    """The message as the applicant reads it: the signature in 【】, then the text."""
    if len(params) != parameter_count(kind):
        raise ValueError(f"the {kind} template takes {parameter_count(kind)} parameters")
    text = TEXTS[kind].replace("{portal}", portal_url)
    return f"【{sign_name}】" + _PARAMETER.sub(lambda found: params[int(found[1]) - 1], text)
