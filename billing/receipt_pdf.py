"""A fiscal receipt's face as a PDF, for the payer to read and print.

Everything drawn comes from the verified receipt file (``IssuedReceipt``). Chinese is set in
reportlab's built-in CID font STSong-Light (the reader supplies the glyphs, no font file is
shipped); codes, numbers and amounts in Helvetica. The QR code carries what the platform's
verification takes: code, number and check code, with the total and the date.
"""

from __future__ import annotations

from io import BytesIO

import segno
from reportlab.lib import colors
from reportlab.lib.pagesizes import A5, landscape
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from billing.capitals import yuan_in_capitals
from core.money import BEIJING, yuan_text
from integrations.receipts.base import IssuedReceipt

CHINESE = "STSong-Light"
LATIN = "Helvetica"
pdfmetrics.registerFont(UnicodeCIDFont(CHINESE))

WIDTH, HEIGHT = landscape(A5)
LEFT, RIGHT = 12 * mm, WIDTH - 12 * mm
RED = colors.HexColor("#b00000")
# The items table: heading, left edge of the column, and whether it is right-aligned.
COLUMNS = (
    ("项目编码", LEFT, False),
    ("项目名称", LEFT + 30 * mm, False),
    ("单位", LEFT + 92 * mm, False),
    ("数量", LEFT + 118 * mm, True),
    ("标准（元）", LEFT + 148 * mm, True),
    ("金额（元）", RIGHT, True),
)
ROW = 6 * mm


def qr_payload(receipt: IssuedReceipt) -> str:
    """Code, number, check code, total in yuan and the issuing date (YYYYMMDD)."""
    day = receipt.issued_at.astimezone(BEIJING).strftime("%Y%m%d")
    return ",".join(
        (receipt.code, receipt.number, receipt.check_code, yuan_text(receipt.total_fen), day)
    )


def receipt_pdf(receipt: IssuedReceipt) -> bytes:
    out = BytesIO()
    page = Canvas(out, pagesize=(WIDTH, HEIGHT), pageCompression=1)
    page.setTitle(f"{receipt.face.title} {receipt.code}-{receipt.number}")
    _heading(page, receipt)
    y = _parties(page, receipt, HEIGHT - 44 * mm)
    y = _items(page, receipt, y - 4 * mm)
    _totals(page, receipt, y - 2 * mm)
    _footer(page, receipt)
    page.showPage()
    page.save()
    return out.getvalue()


def _heading(page: Canvas, receipt: IssuedReceipt) -> None:
    page.setFillColor(RED if receipt.is_red else colors.black)
    page.setFont(CHINESE, 16)
    title = receipt.face.title + ("（红字）" if receipt.is_red else "")
    page.drawCentredString(WIDTH / 2, HEIGHT - 16 * mm, title)
    page.setFillColor(colors.black)
    issued = receipt.issued_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    for row, (label, value) in enumerate(
        (
            ("票据代码：", receipt.code),
            ("票据号码：", receipt.number),
            ("校验码：", receipt.check_code),
            ("开票日期：", issued),
        )
    ):
        _labelled(page, LEFT, HEIGHT - (26 + 5 * row) * mm, label, value)
    qr = segno.make(qr_payload(receipt), error="m")
    image = BytesIO()
    qr.save(image, kind="png", scale=4, border=4)
    side = 26 * mm
    page.drawImage(ImageReader(image), RIGHT - side, HEIGHT - 14 * mm - side, side, side)


def _parties(page: Canvas, receipt: IssuedReceipt, y: float) -> float:
    face = receipt.face
    _labelled(page, LEFT, y, "交款人：", face.payer_name, latin=False)
    if face.payer_code:
        _labelled(page, LEFT + 95 * mm, y, "统一社会信用代码：", face.payer_code)
    y -= 5 * mm
    _labelled(page, LEFT, y, "执收单位：", face.invoicing_party_name, latin=False)
    _labelled(page, LEFT + 95 * mm, y, "执收单位编码：", face.invoicing_party_code)
    y -= 5 * mm
    _labelled(page, LEFT, y, "缴款码：", face.pay_code)
    _labelled(page, LEFT + 95 * mm, y, "缴款方式：", face.pay_mode)
    return y


def _items(page: Canvas, receipt: IssuedReceipt, y: float) -> float:
    page.setLineWidth(0.5)
    page.line(LEFT, y + 4 * mm, RIGHT, y + 4 * mm)
    page.setFont(CHINESE, 9)
    for heading, x, right in COLUMNS:
        (page.drawRightString if right else page.drawString)(x, y, heading)
    page.line(LEFT, y - 2 * mm, RIGHT, y - 2 * mm)
    for item in receipt.face.items:
        y -= ROW
        cells = (
            item.code,
            item.name,
            item.unit,
            "" if item.quantity is None else str(item.quantity),
            yuan_text(item.standard_fen),
            yuan_text(item.amount_fen),
        )
        for (_, x, right), text in zip(COLUMNS, cells, strict=True):
            page.setFont(LATIN if text.isascii() else CHINESE, 9)
            (page.drawRightString if right else page.drawString)(x, y, text)
    page.line(LEFT, y - 2 * mm, RIGHT, y - 2 * mm)
    return y - 2 * mm


def _totals(page: Canvas, receipt: IssuedReceipt, y: float) -> None:
    y -= 5 * mm
    _labelled(page, LEFT, y, "金额合计（大写）：", yuan_in_capitals(receipt.total_fen), latin=False)
    _labelled(page, LEFT + 120 * mm, y, "（小写）：", f"¥{yuan_text(receipt.total_fen)}")
    face = receipt.face
    if receipt.is_red:
        y -= 5 * mm
        original = f"{face.related_code}-{face.related_number}"
        _labelled(page, LEFT, y, "冲红原票据：", original)
        _labelled(page, LEFT + 95 * mm, y, "冲红原因：", face.red_reason, latin=False)
    if face.remark:
        y -= 5 * mm
        _labelled(page, LEFT, y, "备注：", face.remark, latin=False)


def _footer(page: Canvas, receipt: IssuedReceipt) -> None:
    page.setFont(CHINESE, 7)
    page.setFillColor(colors.grey)
    issuer, finance = receipt.issuer_signature, receipt.finance_signature
    page.drawString(LEFT, 14 * mm, f"开票单位数字签名：证书序列号 {issuer.serial_number}")
    page.drawString(LEFT, 10 * mm, f"财政部门监制数字签名：证书序列号 {finance.serial_number}")
    page.drawRightString(RIGHT, 10 * mm, f"监管机构区划代码：{receipt.face.supervisor_area_code}")


def _labelled(
    page: Canvas, x: float, y: float, label: str, value: str, *, latin: bool = True
) -> None:
    page.setFont(CHINESE, 9)
    page.drawString(x, y, label)
    page.setFont(LATIN if latin and value.isascii() else CHINESE, 9)
    page.drawString(x + pdfmetrics.stringWidth(label, CHINESE, 9), y, value)
