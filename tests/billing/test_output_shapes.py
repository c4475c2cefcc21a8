"""The API's output serializers declare their fields (a ModelSerializer rebuilds them from
the model on every use); these tests keep each declared field publishing what its model
column holds: the same kind of field, length, choices and nullability."""

import pytest
from rest_framework import serializers

from billing.api import serializers as s
from billing.models import PaymentAttempt, PaymentOrder, PaymentOrderLine

OUTPUTS = [
    (s.PaymentOrderSerializer, PaymentOrder),
    (s.PaymentOrderCreatedSerializer, PaymentOrder),
    (s.PaymentOrderLineSerializer, PaymentOrderLine),
    (s.PublicOrderLineSerializer, PaymentOrderLine),
    (s.PaymentAttemptSerializer, PaymentAttempt),
    (s.PublicOrderSerializer, PaymentOrder),
]


def column_fields(serializer_class, model):
    """(name, declared field, field a ModelSerializer would build) for every declared field
    read straight from one of the model's columns."""
    builder = type(
        "Built",
        (serializers.ModelSerializer,),
        {"Meta": type("Meta", (), {"model": model, "fields": "__all__"})},
    )()
    info = serializers.model_meta.get_field_info(model)
    columns = {field.name for field in model._meta.concrete_fields}
    for name, declared in serializer_class().fields.items():
        source = declared.source or name
        if source in columns and source not in info.relations:
            built_class, built_kwargs = builder.build_field(source, info, model, 0)
            yield name, declared, built_class(**built_kwargs)


def differences(declared, built) -> list[str]:
    found = []
    if not isinstance(declared, type(built)):
        found.append(f"{type(declared).__name__} is not a {type(built).__name__}")
    # max_value: a bigint column's range is what makes the schema say int64
    for attribute in ("max_length", "max_value", "allow_null", "choices"):
        if getattr(declared, attribute, None) != getattr(built, attribute, None):
            found.append(attribute)
    return found


@pytest.mark.parametrize(("serializer_class", "model"), OUTPUTS, ids=lambda x: x.__name__)
def test_declared_fields_publish_what_the_column_holds(serializer_class, model):
    compared = {
        name: differences(declared, built)
        for name, declared, built in column_fields(serializer_class, model)
    }
    assert len(compared) >= 4
    assert {name: found for name, found in compared.items() if found} == {}


def test_a_declared_field_that_strays_from_its_column_is_caught():
    class Strayed(serializers.Serializer):
        status = serializers.CharField(max_length=16)  # loses the choices
        paid_at = serializers.DateTimeField()  # loses null
        amount = serializers.IntegerField()  # loses int64
        currency = serializers.CharField(max_length=5)

    compared = {
        name: differences(declared, built)
        for name, declared, built in column_fields(Strayed, PaymentOrder)
    }
    assert set(compared) == {"status", "paid_at", "amount", "currency"}
    assert all(compared.values()), compared
