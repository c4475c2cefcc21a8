"""Our resident ID check says exactly what python-stdnum's says, on every kind of number."""

from __future__ import annotations

import random

from stdnum.cn import ric

from billing.id_numbers import is_valid_resident_id


def with_check_digit(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


def numbers() -> list[str]:
    draw = random.Random(20261207)
    regions = ["110105", "330100", "330106", "440305", "000000", "999999", "110100"]
    found = []
    for _ in range(400):
        region = draw.choice(regions)
        birth = f"{draw.randint(1900, 2030)}{draw.randint(0, 13):02d}{draw.randint(0, 32):02d}"
        body = f"{region}{birth}{draw.randint(0, 999):03d}"
        good = with_check_digit(body)
        found += [good, good[:-1] + str((int(good[-1], 36) + 1) % 10), good.lower()]
    return [
        *found,
        "",
        "11010519491231002",
        "1101051949123100 X",
        "１１０１０５１９４９１２３１００２X",
    ]


def test_the_same_verdict_as_python_stdnum():
    differ = [n for n in numbers() if is_valid_resident_id(n) != ric.is_valid(n)]
    assert differ == []


def test_the_sample_holds_both_verdicts():
    verdicts = {ric.is_valid(number) for number in numbers()}
    assert verdicts == {True, False}
    assert is_valid_resident_id("11010519491231002X")
