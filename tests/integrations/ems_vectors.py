"""Messages of the real EMS platform, as its customers published them, for fixed-vector tests.

Both come from one customer's Java integration on GitHub (package
``com.frenzy.app.third.ems``): a track push the platform's test environment sent on
2025-08-12, with the sign key it was sealed under (its ``SubscribePush`` class and its
``YfTestsSm4.sm4Decrypt`` test), and a track query answer (``YfTestsSm4.init1``), of which
the domestic items are kept here. The adapter's and the sandbox's tests both check them.
"""

from __future__ import annotations

import json

PUSH_SIGN_KEY = "QkZWQnlSWGYyU0pTZno1NQ=="
PUSH = {
    "logitcsInterface": (
        "|$4|kF9KM/Iuq04gYlfM8qjxCO3+dLFPovkCiEPsFRG85WLSu/eR/nuAccmh7ra1kAzUz1nPWcupVeKZAAr4I5"
        "oFaSeyBDjGt7mECFGdy7NfqLfLJXiEDiU92H6D8xdp2Vgw4ju8N1vYJLuYLck2jAaCLFyy0uPfTZjhFEWteNoY"
        "0cv/dNQxMwR936U4hMbrf5bBL351/5kQoNePLJoKkLQwI6O3Z60o64/jySoKg6cehfnM4vwEbiRlxvNA1WJk0Q"
        "0VB4lFnIoPgOyFkxOEB3JkoIq2kc3exCrp40bcD7no1OfT/3s0/aZUUAUS4UwNAEWrn9FmJsuHXDwKY+doqXkC"
        "X83K8U867PRDfTUJvQ70Jx8/yYGjTalkF3kDOrYGn+GtHLBEvQlKRbznE2/EEOqKHwbWIsUoxM1mP/LS9v9sQ1"
        "j/3TsEJSj3dpDpn52CXqXdVJCM1r88WVIS9oeI9AxthSC/b0CbeKSxe7P/E0Zf39Rd3o5OoDMLbD+wyN37Xx7w"
    ),
    "method": "040002",
    "msgType": "0",
    "senderNo": "",
    "serialNo": "C3E7E1A2E6F44EB9B09EB9116C89FC86",
    "timeStamp": "2025-08-12 16:56:50",
    "version": "v1.0.0",
}
# What the push's logitcsInterface opens to: one trace, without the key behind it.
PUSH_TRACE_TEXT = (
    '{"opOrgCode":"23803100","orderNo":"222105314900991","opTime":"2025-08-12 16:56:50",'
    '"opName":"收寄","opDesc":"【义乌快包经营部】已收寄,揽投员:王一联,电话:13455556666",'
    '"operatorNo":"11122234","opCode":"203","opOrgName":"义乌快包经营部",'
    '"opOrgProvName":"杭州省","operatorName":"王一联","opOrgCity":"金华市",'
    '"waybillNo":"1295780512499"}'
)


def _item(op_time: str, org: tuple[str, str], op_code: str, op_name: str, op_desc: str) -> dict:
    org_code, org_name = org
    return {
        "traceNo": "LZ290346175CN",
        "waybillNo": "LZ290346175CN",
        "opTime": op_time,
        "opOrgProvName": "上海市",
        "opOrgCity": "上海市",
        "opOrgCode": org_code,
        "opOrgName": org_name,
        "opCode": op_code,
        "opName": op_name,
        "opDesc": op_desc,
        "productName": "e邮宝",
    }


_KANGQIAO = ("20131505", "上海市浦东新区康桥揽投部")
_WANGGANG = ("20000414", "上海王港邮件处理中心")
TRACK_ITEMS = [
    _item("2025-08-08 17:36:24", _KANGQIAO, "203", "收寄计费信息", "中国邮政 已收取邮件"),
    _item(
        "2025-08-08 17:42:05",
        _KANGQIAO,
        "303",
        "揽投配发",
        "邮件已在【上海市浦东新区康桥揽投部】完成分拣，准备发出",
    ),
    _item(
        "2025-08-08 18:24:53",
        _KANGQIAO,
        "305",
        "揽投发运/封车",
        "邮件离开【上海市浦东新区康桥揽投部】，正在发往【上海国际】",
    ),
    _item(
        "2025-08-09 05:11:15",
        _WANGGANG,
        "954",
        "邮件到达处理中心",
        "邮件到达【上海王港邮件处理中心】",
    ),
    _item(
        "2025-08-09 05:11:16",
        _WANGGANG,
        "989",
        "离开处理中心",
        "邮件离开【上海王港邮件处理中心】，正在发往下一站",
    ),
]
TRACK_ANSWER = {
    "serialNo": "ee60deb4-dfdb-4c98-a8a3-65846bdaf850",
    "retCode": "00000",
    "retMsg": "查询结果正常返回！",
    "retBody": json.dumps({"responseItems": TRACK_ITEMS}, ensure_ascii=False),
    "retDate": "2025-08-12 18:26:06",
    "success": True,
}
