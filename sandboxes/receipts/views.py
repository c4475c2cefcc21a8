"""The receipt platform's services over HTTP, and its controls.

Each service is ``POST /sandbox/receipts/<service>``: the request's app and signature are
checked (wire), its business message (messages), then the service runs under one lock,
so numbers are drawn without gaps however many requests arrive at once. Receipts, the
numbering and the mode are sandboxes.state stores. Tests and operators use ``_control/``
to take the platform down or slow it, to list what it issued, and to make it forget which
receipt a business id got.
"""

from __future__ import annotations

import base64
import hmac
import io
import secrets
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from sandboxes import faults
from sandboxes.common import MalformedJson, loads_object
from sandboxes.receipts import messages, wire
from sandboxes.receipts.receipt_xml import Element, signed_receipt
from sandboxes.state import Store

BEIJING = timezone(timedelta(hours=8))
TITLE = "非税收入统一票据（电子）"
CLASS_CODE = "01"  # 非税收入类
KIND_CODE = "01"  # 非税收入统一票据
LAST_NUMBER = 9_999_999_999
_CHECK_CODE_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Receipt:
    app_id: str
    biz_code: str
    message: dict[str, Any]  # the business message it was issued for
    code: str
    number: str
    check_code: str
    party_code: str
    total_fen: int  # negative on a red-letter receipt
    issued_at: str  # ISO 8601, Beijing
    xml: str
    original: str = ""  # a red-letter receipt's: the code and number it reddens
    reddened_fen: list[int] = field(default_factory=list)  # a blue one's, per item

    @property
    def key(self) -> str:
        return self.code + self.number


@dataclass
class _Mode:
    mode: str = "up"  # up, down (HTTP 503) or slow (sleep delay_ms, then answer)
    delay_ms: int = 0


_lock = threading.Lock()
_receipts: Store[_Receipt] = Store(
    "receipts-receipts", encode=asdict, decode=lambda record: _Receipt(**record)
)
_by_business: Store[str] = Store("receipts-business")  # "<appid>/<bizCode>" -> receipt key
_blocks: Store[int] = Store("receipts-blocks")  # invoicing party -> its block of numbers
_last_numbers: Store[int] = Store("receipts-last-numbers")  # "<code>/<party>" -> last issued
_modes: Store[_Mode] = Store("receipts-modes", encode=asdict, decode=lambda r: _Mode(**r))


def _config() -> Mapping[str, Any]:
    return settings.SANDBOX_RECEIPTS


# -- the services -------------------------------------------------------------------------


@csrf_exempt
@require_POST
def service(request: HttpRequest, name: str) -> HttpResponse:
    mode = _modes.get("platform", _Mode())
    if mode.mode == "down":
        return _planned_outage()
    if mode.mode == "slow":
        time.sleep(mode.delay_ms / 1000)
    app = None
    try:
        parameters = _parameters(request)
        app = _config()["apps"].get(parameters.get("appid", ""))
        if app is None:
            raise _Refused(wire.UNKNOWN_APP, "appid is not registered")
        text = wire.text_to_sign(parameters)
        if not wire.signature_matches(app["sign_method"], app["app_key"], text, parameters["sign"]):
            raise _Refused(wire.BAD_SIGNATURE, "sign does not verify with the app's key")
        document = _business_message(parameters, name)
        return _SERVICES[name](parameters["appid"], document, app)
    except _Refused as refusal:
        return _answer(refusal.code, {"msg": refusal.message}, app)


def _parameters(request: HttpRequest) -> dict[str, str]:
    """The request's parameters: a form, or a JSON object of strings."""
    if request.content_type == "application/json":
        try:
            given = loads_object(request.body)
        except MalformedJson as exc:
            raise _Refused(wire.BAD_PARAMETER, str(exc)) from exc
        pairs = [(name, [value]) for name, value in given.items()]
    else:
        pairs = list(request.POST.lists())
    names = {name for name, _ in pairs}
    if names != wire.PARAMETERS:
        wrong = sorted(names ^ wire.PARAMETERS)
        raise _Refused(wire.BAD_PARAMETER, f"missing or unknown parameters: {', '.join(wrong)}")
    if any(len(values) != 1 or not isinstance(values[0], str) for _, values in pairs):
        raise _Refused(wire.BAD_PARAMETER, "each parameter is one string")
    return {name: values[0] for name, values in pairs}


def _business_message(parameters: Mapping[str, str], name: str) -> dict[str, Any]:
    if parameters["service"] != name or name not in messages.SERVICES:
        raise _Refused(wire.WRONG_SERVICE, f"service is not {name!r}, or unknown")
    if parameters["version"] != wire.VERSION:
        raise _Refused(wire.BAD_VERSION, f"version {wire.VERSION} only")
    if not 16 <= len(parameters["noise"]) <= 64:
        raise _Refused(wire.BAD_PARAMETER, "noise is 16 to 64 characters")
    try:
        document = wire.decode_message(parameters["message"])
        messages.check(name, document)
    except messages.Invalid as exc:
        raise _Refused(wire.BAD_MESSAGE, str(exc)) from exc
    except ValueError as exc:
        raise _Refused(wire.BAD_PARAMETER, str(exc)) from exc
    return document


def _answer(result: str, document: Mapping[str, Any], app: Mapping | None) -> JsonResponse:
    return JsonResponse(wire.answer(result, document, app))


def _planned_outage() -> JsonResponse:
    """The 503 of a platform put "down" through _control/: asked for, so not logged as a
    server error (as the revenue sandbox does it)."""
    response = JsonResponse({"result": "E9999", "message": "", "sign": ""}, status=503)
    response._has_been_logged = True
    return response


def _issue(app_id: str, document: dict[str, Any], app: Mapping) -> HttpResponse:
    with _lock:
        receipt = _issued_before(app_id, document)
        if receipt is None:
            receipt = _new_receipt(app_id, document, face=document)
    return _answer(wire.SUCCESS, _summary(receipt), app)


def _issue_red(app_id: str, document: dict[str, Any], app: Mapping) -> HttpResponse:
    with _lock:
        receipt = _issued_before(app_id, document)
        if receipt is None:
            original = _receipts.get(document["eInvoiceCode"] + document["eInvoiceNumber"])
            if original is None or original.app_id != app_id:
                raise _Refused(wire.NO_SUCH_RECEIPT, "no such receipt issued by this app")
            if original.original:
                raise _Refused(wire.NOT_REDDENABLE, "a red-letter receipt cannot be reddened")
            parts = _reddened_parts(original, wire.fen(document["amount"]))
            receipt = _new_receipt(app_id, document, face=original.message, red=(original, parts))
            original.reddened_fen = [
                done + part for done, part in zip(original.reddened_fen, parts, strict=True)
            ]
            _receipts[original.key] = original
    return _answer(wire.SUCCESS, _summary(receipt), app)


def _query(app_id: str, document: dict[str, Any], app: Mapping) -> HttpResponse:
    with _lock:
        key = _by_business.get(f"{app_id}/{document['bizCode']}")
        receipt = _receipts[key] if key else None
    if receipt is None:
        raise _Refused(wire.NO_SUCH_RECEIPT, "no receipt for this bizCode")
    return _answer(wire.SUCCESS, _summary(receipt), app)


def _download(app_id: str, document: dict[str, Any], app: Mapping) -> HttpResponse:
    with _lock:
        receipt = _receipts.get(document["eInvoiceCode"] + document["eInvoiceNumber"])
    if receipt is None or receipt.app_id != app_id:
        raise _Refused(wire.NO_SUCH_RECEIPT, "no such receipt issued by this app")
    return _zipped([receipt], f"{receipt.code}_{receipt.number}.zip")


def _download_by_date(app_id: str, document: dict[str, Any], app: Mapping) -> HttpResponse:
    """Every receipt the app was issued on a day (Beijing), blue and red, in the order
    issued: the zip holds none on a day without any."""
    day = document["issueDate"]
    with _lock:
        receipts = [
            receipt
            for receipt in _receipts.values()
            if receipt.app_id == app_id and _issue_date(receipt) == day
        ]
    return _zipped(receipts, f"{document['issueDate']}.zip", day_file=True)


def _zipped(receipts: list[_Receipt], name: str, *, day_file: bool = False) -> HttpResponse:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as written:
        for receipt in receipts:
            written.writestr(f"{receipt.code}_{receipt.number}.xml", receipt.xml.encode("utf-8"))
    content = faults.damage_file("receipts", archive.getvalue()) if day_file else archive.getvalue()
    response = HttpResponse(content, content_type="application/x-zip-compressed")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _verify(app_id: str, document: dict[str, Any], app: Mapping) -> HttpResponse:
    """Any app may check any receipt: the public verification service."""
    with _lock:
        receipt = _receipts.get(document["eInvoiceCode"] + document["eInvoiceNumber"])
    genuine = receipt is not None and hmac.compare_digest(
        receipt.check_code, document["randomNumber"]
    )
    if not genuine:
        return _answer(wire.SUCCESS, {"genuine": False}, app)
    return _answer(
        wire.SUCCESS,
        {
            "genuine": True,
            "reddenedAmount": wire.yuan(sum(receipt.reddened_fen)),
            "eInvoiceXml": _xml_base64(receipt),
        },
        app,
    )


_SERVICES: dict[str, Callable[[str, dict[str, Any], Mapping], HttpResponse]] = {
    "issue": _issue,
    "issue_red": _issue_red,
    "query": _query,
    "download": _download,
    "download_by_date": _download_by_date,
    "verify": _verify,
}


def _issued_before(app_id: str, document: Mapping[str, Any]) -> _Receipt | None:
    """The receipt issued for this bizCode, if any; the lock is held. The same bizCode
    with another message is refused: it never gets a second number."""
    key = _by_business.get(f"{app_id}/{document['bizCode']}")
    if key is None:
        return None
    receipt = _receipts[key]
    if receipt.message != document:
        raise _Refused(wire.BIZ_CODE_USED, "bizCode was used with another message")
    return receipt


def _reddened_parts(original: _Receipt, amount: int) -> list[int]:
    """How much of each item a red-letter receipt of ``amount`` reddens: the items in
    order, each up to what is left of it."""
    items = [wire.fen(item["itemAmount"]) for item in original.message["details"]]
    left = [total - done for total, done in zip(items, original.reddened_fen, strict=True)]
    if amount > sum(left):
        remaining = wire.yuan(sum(left))
        raise _Refused(wire.EXCEEDS_REMAINING, f"only {remaining} remains to be reddened")
    parts = []
    for available in left:
        parts.append(min(available, amount))
        amount -= parts[-1]
    return parts


# -- issuing one receipt ------------------------------------------------------------------


def _new_receipt(
    app_id: str,
    document: dict[str, Any],
    *,
    face: Mapping[str, Any],
    red: tuple[_Receipt, list[int]] | None = None,
) -> _Receipt:
    """Number, write, sign and keep a receipt; the lock is held. ``face`` is the issue
    message the receipt's face is written from (the original's, for a red-letter one)."""
    now = datetime.now(BEIJING).replace(microsecond=0)
    party = face["invoicingPartyCode"]
    code = f"{_config()['region_code'][:2]}{CLASS_CODE}{KIND_CODE}{now:%y}"
    number_key, number = _next_number(code, party)
    check_code = "".join(secrets.choice(_CHECK_CODE_ALPHABET) for _ in range(6))
    items, total = _items(face["details"], red[1] if red else None)
    receipt = _Receipt(
        app_id=app_id,
        biz_code=document["bizCode"],
        message=document,
        code=code,
        number=f"{number:010d}",
        check_code=check_code,
        party_code=party,
        total_fen=total,
        issued_at=now.isoformat(),
        xml="",
        original=red[0].key if red else "",
        reddened_fen=[0] * len(face["details"]) if red is None else [],
    )
    main = _main(receipt, face, red[0] if red else None, document.get("reason", ""))
    receipt.xml = signed_receipt(
        _header(),
        [("Main", main), ("Details", items)],
        issuer=_config()["issuer"],
        finance=_config()["finance"],
        signed_at=now,
    )
    _receipts[receipt.key] = receipt
    _by_business[f"{app_id}/{receipt.biz_code}"] = receipt.key
    _last_numbers[number_key] = number
    return receipt


def _next_number(code: str, party: str) -> tuple[str, int]:
    """The next number of the party's range under ``code``; the lock is held. Each party
    has a block of ``range_size`` numbers, the blocks in the order parties first came."""
    size = int(_config()["range_size"])
    block = _blocks.get(party)
    if block is None:
        block = _blocks[party] = len(_blocks)
    key = f"{code}/{party}"
    number = _last_numbers.get(key, block * size) + 1
    if number > min((block + 1) * size, LAST_NUMBER):
        raise _Refused(wire.RANGE_USED_UP, f"the number range of {party} is used up")
    return key, number


def _items(details: list[dict[str, str]], parts: list[int] | None) -> tuple[list[Element], int]:
    """A receipt's items and total: those of the issue message, or for a red-letter
    receipt the ``parts`` of them it reddens, negative."""
    if parts is None:
        amounts = [wire.fen(item["itemAmount"]) for item in details]
        items = [
            _item(item, item["itemQuantity"], amount)
            for item, amount in zip(details, amounts, strict=True)
        ]
        return items, sum(amounts)
    items = [
        _item(item, _red_quantity(item, part), -part)
        for item, part in zip(details, parts, strict=True)
        if part
    ]
    return items, -sum(parts)


def _red_quantity(item: Mapping[str, str], part: int) -> str:
    """A red-letter item's quantity: minus the original's when the whole item is
    reddened, blank when only part of it is (as for an allowance)."""
    return f"-{item['itemQuantity']}" if part == wire.fen(item["itemAmount"]) else ""


def _item(item: Mapping[str, str], quantity: str, amount: int) -> Element:
    return (
        "Item",
        [
            ("ItemCode", item["itemCode"]),
            ("ItemName", item["itemName"]),
            ("ItemUnit", item["itemUnit"]),
            ("ItemQuantity", quantity),
            ("ItemStd", item["itemStd"]),
            ("ItemAmount", wire.yuan(amount)),
        ],
    )


def _header() -> list[Element]:
    return [
        ("EInvoiceTag", f"CZ-EI-{_config()['region_code'][:2]}"),
        ("Version", "1.0"),
        ("EInvoiceName", TITLE),
    ]


def _main(
    receipt: _Receipt, face: Mapping[str, Any], original: _Receipt | None, reason: str
) -> list[Element]:
    issued_at = datetime.fromisoformat(receipt.issued_at)
    extension: list[Element] = [("PayCode", face["payCode"]), ("PayDate", face["payDate"])]
    if original is not None:
        extension += [
            ("RelatedInvoiceCode", original.code),
            ("RelatedInvoiceNumber", original.number),
            ("RedReason", reason),
        ]
    return [
        ("EInvoiceName", TITLE),
        ("EInvoiceCode", receipt.code),
        ("EInvoiceNumber", receipt.number),
        ("RandomNumber", receipt.check_code),
        ("SupervisorAreaCode", _config()["region_code"]),
        ("TotalAmount", wire.yuan(receipt.total_fen)),
        ("IssueDate", f"{issued_at:%Y%m%d}"),
        ("IssueTime", f"{issued_at:%H:%M:%S}"),
        (
            "InvoicingParty",
            [
                ("InvoicingPartyCode", face["invoicingPartyCode"]),
                ("InvoicingPartyName", face["invoicingPartyName"]),
            ],
        ),
        (
            "PayerParty",
            [
                ("PayerPartyType", face["payerPartyType"]),
                ("PayerPartyCode", face["payerPartyCode"]),
                ("PayerPartyName", face["payerPartyName"]),
            ],
        ),
        ("PayMode", face["payMode"]),
        ("BizCode", receipt.biz_code),
        ("CurrencyType", "CNY"),
        ("Remark", face["remark"] if original is None else ""),
        ("MainExt", extension),
    ]


def _summary(receipt: _Receipt) -> dict[str, Any]:
    return {
        "bizCode": receipt.biz_code,
        "eInvoiceCode": receipt.code,
        "eInvoiceNumber": receipt.number,
        "randomNumber": receipt.check_code,
        "totalAmount": wire.yuan(receipt.total_fen),
        "issueDate": _issue_date(receipt),
        "issueTime": f"{datetime.fromisoformat(receipt.issued_at):%H:%M:%S}",
        "eInvoiceXml": _xml_base64(receipt),
    }


def _issue_date(receipt: _Receipt) -> str:
    return f"{datetime.fromisoformat(receipt.issued_at):%Y%m%d}"


def _xml_base64(receipt: _Receipt) -> str:
    return base64.b64encode(receipt.xml.encode("utf-8")).decode("ascii")


# -- control, for tests and operators -----------------------------------------------------


@csrf_exempt
@require_POST
def control_mode(request: HttpRequest) -> HttpResponse:
    try:
        body = loads_object(request.body or b"{}")
        mode, delay_ms = body["mode"], int(body.get("delay_ms", 0))
    except (KeyError, TypeError, ValueError):  # MalformedJson is a ValueError
        return JsonResponse(
            {"error": 'send {"mode": "up"|"down"|"slow", "delay_ms": N}'}, status=400
        )
    if mode not in ("up", "down", "slow") or delay_ms < 0:
        return JsonResponse({"error": "mode is up, down or slow; delay_ms >= 0"}, status=400)
    with _lock:
        _modes["platform"] = _Mode(mode, delay_ms)
    return JsonResponse({"mode": mode, "delay_ms": delay_ms})


@csrf_exempt
@require_POST
def control_forget(request: HttpRequest, biz_code: str) -> HttpResponse:
    """The platform loses its record of which receipt a business id got, as a restore that
    kept the receipts but not that record would: issuing under it again draws a second
    receipt, on a new number. The receipts issued stay."""
    with _lock:
        keys = [key for key in _by_business if key.partition("/")[2] == biz_code]
        for key in keys:
            del _by_business[key]
    if not keys:
        return JsonResponse({"error": "no receipt for this bizCode"}, status=404)
    return JsonResponse({"forgotten": biz_code})


@require_GET
def control_receipts(request: HttpRequest) -> HttpResponse:
    """Every receipt issued, in the order issued."""
    with _lock:
        receipts = [
            {
                "app_id": receipt.app_id,
                "biz_code": receipt.biz_code,
                "code": receipt.code,
                "number": receipt.number,
                "check_code": receipt.check_code,
                "invoicing_party_code": receipt.party_code,
                "total_fen": receipt.total_fen,
                "reddened_fen": sum(receipt.reddened_fen),
                "original": receipt.original,
                "issued_at": receipt.issued_at,
            }
            for receipt in _receipts.values()
        ]
    return JsonResponse({"receipts": receipts}, json_dumps_params={"ensure_ascii": False})


app_name = "receipts_sandbox"
urlpatterns = [
    path("_control/mode", control_mode, name="control_mode"),
    path("_control/receipts", control_receipts, name="control_receipts"),
    path("_control/business/<str:biz_code>/forget", control_forget, name="control_forget"),
    path("<slug:name>", service, name="service"),
]
