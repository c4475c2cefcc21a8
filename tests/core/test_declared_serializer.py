"""DeclaredSerializer copies its fields shallowly: instances used at once on many threads
(as gunicorn's threads do) must still validate and represent each its own data."""

from concurrent.futures import ThreadPoolExecutor

from rest_framework import serializers

from core.api_fields import DeclaredSerializer


class Line(DeclaredSerializer):
    code = serializers.CharField(max_length=8)
    quantity = serializers.IntegerField(min_value=1)


class Order(DeclaredSerializer):
    case = serializers.CharField(max_length=16)
    lines = serializers.ListField(child=Line(), min_length=1)
    shown = Line(many=True, source="lines", read_only=True)


def order(index: int) -> dict:
    return {"case": f"C{index}", "lines": [{"code": f"L{index}", "quantity": index + 1}] * 3}


def round_trip(index: int) -> tuple[dict, dict]:
    valid = Order(data=order(index))
    invalid = Order(data={"case": "x" * (index + 17), "lines": [{"code": "L", "quantity": 0}]})
    assert valid.is_valid(), valid.errors
    assert not invalid.is_valid()
    return Order(valid.validated_data).data, invalid.errors


def test_many_threads_each_get_their_own_answers_and_errors():
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(round_trip, range(400)))

    for index, (shown, errors) in enumerate(results):
        assert shown["case"] == f"C{index}"
        assert shown["shown"] == [{"code": f"L{index}", "quantity": index + 1}] * 3
        assert [error.code for error in errors["case"]] == ["max_length"]
        assert [error.code for error in errors["lines"][0]["quantity"]] == ["min_value"]


def test_the_class_fields_stay_unbound():
    Order(data=order(1)).is_valid()
    for field in Order._declared_fields.values():
        assert field.parent is None and field.field_name is None
