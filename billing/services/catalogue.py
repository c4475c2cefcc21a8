"""The fee catalogue from a file: departments and fee items, upserted by code, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models, transaction

from billing.models import Department, FeeItem
from integrations.payments.registry import CHANNEL_CODES

DEPARTMENT_FIELDS = (
    "name",
    "region_code",
    "settlement_account_name",
    "settlement_account_number",
    "settlement_bank",
    "accepted_channels",
    "active",
)
FEE_ITEM_FIELDS = (
    "name",
    "kind",
    "legal_basis",
    "standard_amount",
    "min_amount",
    "max_amount",
    "waiver_reasons",
    "active",
)
AMOUNT_FIELDS = ("standard_amount", "min_amount", "max_amount")
LIST_FIELDS = ("accepted_channels", "waiver_reasons")


class CatalogueInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"the catalogue has {len(problems)} problem(s); nothing was loaded")
        self.problems = problems


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


@dataclass(frozen=True)
class CatalogueCounts:
    departments: UpsertCounts
    fee_items: UpsertCounts


def catalogue_load(*, data: object) -> CatalogueCounts:
    """Create or update every department and fee item named in ``data``; others are left alone.

    ``data`` is ``{"departments": [...], "fee_items": [...]}`` with each record complete
    (omitted optional fields take their defaults) and amounts in integer fen. Raises
    CatalogueInvalid listing every problem, and then nothing is written.
    """
    if not isinstance(data, dict) or set(data) != {"departments", "fee_items"}:
        raise CatalogueInvalid(['Expected an object with the lists "departments" and "fee_items".'])
    problems: list[str] = []
    with transaction.atomic(durable=True):
        departments = _upsert(Department, data["departments"], DEPARTMENT_FIELDS, problems)
        fee_items = _upsert(FeeItem, data["fee_items"], FEE_ITEM_FIELDS, problems)
        if problems:
            raise CatalogueInvalid(problems)
    return CatalogueCounts(departments=departments, fee_items=fee_items)


def _upsert(
    model: type[models.Model], records: object, fields: tuple[str, ...], problems: list[str]
) -> UpsertCounts:
    counts = UpsertCounts()
    label = model.__name__
    if not isinstance(records, list):
        problems.append(f"{label} records must be a list.")
        return counts
    allowed = {"code", *fields, *(["department"] if model is FeeItem else [])}
    seen: set[str] = set()
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not isinstance(record.get("code"), str):
            problems.append(f"{label} #{index}: must be an object with a string code.")
            continue
        code = record["code"]
        where = f"{label} {code}"
        unknown = sorted(set(record) - allowed)
        record_problems = [f"{where}: unknown field {name!r}." for name in unknown]
        if code in seen:
            record_problems.append(f"{where}: the code appears more than once.")
        seen.add(code)
        instance = model.objects.filter(code=code).first() or model(code=code)
        before = _values(instance, fields)
        for name in fields:
            value = record.get(name, model._meta.get_field(name).get_default())
            shape = _shape_problem(name, value)
            if shape:
                record_problems.append(f"{where}: {name} {shape}.")
            setattr(instance, name, value)
        if model is FeeItem:
            department_code = record.get("department")
            department = Department.objects.filter(code=department_code).first()
            if department is None:
                record_problems.append(f"{where}: no department {department_code!r}.")
            instance.department = department
        if record_problems:
            problems.extend(record_problems)
            continue
        try:
            instance.full_clean()
        except ValidationError as exc:
            problems.extend(
                f"{where}: {field}: {' '.join(messages)}"
                for field, messages in exc.message_dict.items()
            )
            continue
        if instance.pk is None:
            counts.created += 1
        elif _values(instance, fields) != before:
            counts.updated += 1
        else:
            counts.unchanged += 1
            continue
        instance.save()
    return counts


def _values(instance: models.Model, fields: tuple[str, ...]) -> list[object]:
    names = (*fields, "department_id") if isinstance(instance, FeeItem) else fields
    return [getattr(instance, name) for name in names]


def _shape_problem(name: str, value: object) -> str:
    if name in AMOUNT_FIELDS:
        is_fen = isinstance(value, int) and not isinstance(value, bool)
        return "" if value is None or is_fen else "must be an integer number of fen"
    if name in LIST_FIELDS:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return "must be a list of strings"
        unknown = set(value) - set(CHANNEL_CODES) if name == "accepted_channels" else set()
        return f"names unknown channels {sorted(unknown)}" if unknown else ""
    if name == "active":
        return "" if isinstance(value, bool) else "must be true or false"
    return "" if isinstance(value, str) else "must be a string"
