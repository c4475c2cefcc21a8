"""Amounts in Chinese financial capitals (大写金额), as written on receipts and cheques.

The rules of 《支付结算办法》's annex: digits 零壹贰…玖 with 拾佰仟 and 万亿; one 零 for a run
of zeros inside the number; 整 after an amount that ends at 元 or 角, none after 分.
"""

from __future__ import annotations

DIGITS = "零壹贰叁肆伍陆柒捌玖"
GROUP_UNITS = ("", "万", "亿", "万亿")
PLACES = ((1000, "仟"), (100, "佰"), (10, "拾"), (1, ""))


def yuan_in_capitals(fen: int) -> str:
    """3000 -> "叁拾元整", 100105 -> "壹仟零壹元零伍分", -150 -> "负壹元伍角整"."""
    sign = "负" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    jiao, fen_digit = divmod(cents, 10)
    whole = f"{_integer(yuan)}元" if yuan else ""
    if not cents:
        return f"{sign}{whole or '零元'}整"
    fraction = f"{DIGITS[jiao]}角" if jiao else ("零" if whole else "")
    fraction += f"{DIGITS[fen_digit]}分" if fen_digit else "整"
    return f"{sign}{whole}{fraction}"


def _integer(number: int) -> str:
    groups = []
    while number:
        number, group = divmod(number, 10_000)
        groups.append(group)
    if len(groups) > len(GROUP_UNITS):
        raise ValueError("the amount is too large to write in capitals")
    text, zeros_before = "", False
    for position in reversed(range(len(groups))):
        group = groups[position]
        if group == 0:
            zeros_before = bool(text)
            continue
        if text and (zeros_before or group < 1000):
            text += "零"
        text += _group(group) + GROUP_UNITS[position]
        zeros_before = group % 10 == 0  # zeros at the end of a group run into the next
    return text


def _group(group: int) -> str:
    """1 to 9999 without leading zeros: 1005 -> "壹仟零伍"."""
    text, zeros_before = "", False
    for value, unit in PLACES:
        digit = group // value % 10
        if digit == 0:
            zeros_before = bool(text)
            continue
        if zeros_before:
            text += "零"
        text += DIGITS[digit] + unit
        zeros_before = False
    return text
