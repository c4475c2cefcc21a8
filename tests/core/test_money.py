from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import business_date_of, fen_from_yuan, yuan_text


@pytest.mark.parametrize(
    ("text", "fen"), [("12", 1200), ("12.3", 1230), ("12.30", 1230), ("0.05", 5), ("0", 0)]
)
def test_yuan_as_providers_write_them_are_exact_fen(text, fen):
    assert fen_from_yuan(text) == fen


@pytest.mark.parametrize(
    "text",
    ["12.345", "01.00", "1,234.00", "12,30", "12.", ".5", "", " 12", "1e3", "NaN", "１２", "-1"],
)
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError):
        fen_from_yuan(text)


def test_more_places_only_when_they_are_zeros_and_a_sign_only_when_asked():
    assert fen_from_yuan("12.300", places=3) == 1230
    with pytest.raises(ValueError):
        fen_from_yuan("12.301", places=3)
    assert fen_from_yuan("-0.05", signed=True) == -5
    assert fen_from_yuan("0.01000", places=5) == 1
    with pytest.raises(ValueError, match="not whole fen"):
        fen_from_yuan("0.00006", places=5)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_text_and_back_is_the_same_amount(fen):
    assert fen_from_yuan(yuan_text(fen), signed=True) == fen


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC), date(2026, 3, 1)),  # 23:59:59 Beijing
        (datetime(2026, 3, 1, 16, 0, tzinfo=UTC), date(2026, 3, 2)),  # 00:00 Beijing
    ],
)
def test_the_business_date_turns_at_midnight_in_beijing(moment, day):
    assert business_date_of(moment) == day
