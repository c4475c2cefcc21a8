import pytest

from billing.capitals import yuan_in_capitals


@pytest.mark.parametrize(
    ("fen", "written"),
    [
        (0, "零元整"),
        (5, "伍分"),
        (150, "壹元伍角整"),
        (1005, "壹拾元零伍分"),
        (3000, "叁拾元整"),
        (-1000, "负壹拾元整"),
        (100105, "壹仟零壹元零伍分"),
        (1050000, "壹万零伍佰元整"),
        (100100000, "壹佰万零壹仟元整"),
        (110000000, "壹佰壹拾万元整"),
        (1000010000, "壹仟万零壹佰元整"),
        (10000000000, "壹亿元整"),
        (12345678912, "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分"),
    ],
)
def test_amounts_are_written_in_financial_capitals(fen, written):
    assert yuan_in_capitals(fen) == written
