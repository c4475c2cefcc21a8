"""The catalogue from a file: departments, fee items with their waiver rules, and service items
(政务服务事项) with the fee items they charge; upserted by code, all or nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import models, transaction

from billing.models import (
    ChargeStage,
    Department,
    FeeItem,
    FeeKind,
    ServiceItem,
    ServiceItemFee,
    WaiverRule,
)
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
    "active",
)
WAIVER_RULE_FIELDS = ("label", "kind", "reduced_amount", "active")
SERVICE_ITEM_FIELDS = ("name", "no_fee", "active")
AMOUNT_FIELDS = ("standard_amount", "min_amount", "max_amount", "reduced_amount")
LIST_FIELDS = ("accepted_channels",)
BOOLEAN_FIELDS = ("active", "no_fee")


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
    service_items: UpsertCounts = field(default_factory=UpsertCounts)


def catalogue_load(*, data: object) -> CatalogueCounts:
    """Create or update every department, fee item and service item named in ``data``; others
    are left alone.

    ``data`` is ``{"departments": [...], "fee_items": [...], "service_items": [...]}`` (service
    items optional) with each record complete (omitted optional fields take their defaults)
    and amounts in integer fen. A fee item's ``waiver_rules`` and a service item's ``fees``
    are its whole list: a rule left out is deactivated (order lines keep naming it), a fee
    left out is removed. Raises CatalogueInvalid listing every problem, and then nothing is
    written.
    """
    keys = set(data) if isinstance(data, dict) else set()
    if not {"departments", "fee_items"} <= keys <= {"departments", "fee_items", "service_items"}:
        raise CatalogueInvalid(
            [
                'Expected an object with the lists "departments" and "fee_items", '
                'and optionally "service_items".'
            ]
        )
    problems: list[str] = []
    with transaction.atomic(durable=True):
        departments = _upsert(DEPARTMENTS, data["departments"], problems)
        fee_items = _upsert(FEE_ITEMS, data["fee_items"], problems)
        service_items = _upsert(SERVICE_ITEMS, data.get("service_items", []), problems)
        if problems:
            raise CatalogueInvalid(problems)
    return CatalogueCounts(
        departments=departments, fee_items=fee_items, service_items=service_items
    )


@dataclass(frozen=True)
class Part:
    """One list of the catalogue: its model, its plain fields and, for records owning a list
    of their own (``children``: a fee item's rules, a service item's fees), how that list is
    read from the record, read from the database and written, as comparable tuples."""

    model: type[models.Model]
    fields: tuple[str, ...]
    of_department: bool = False
    children: str = ""
    read_children: Callable[[models.Model, object, str, list[str]], list[tuple]] | None = None
    children_now: Callable[[models.Model], list[tuple]] | None = None
    write_children: Callable[[models.Model, list[tuple]], None] | None = None


def _upsert(part: Part, records: object, problems: list[str]) -> UpsertCounts:
    counts = UpsertCounts()
    label = part.model.__name__
    if not isinstance(records, list):
        problems.append(f"{label} records must be a list.")
        return counts
    existing = {instance.code: instance for instance in part.model.objects.all()}
    seen: set[str] = set()
    for index, record in enumerate(records, start=1):
        instance, before, where, record_problems = _built(
            part, record, label, index, seen, existing
        )
        if instance is None:
            problems.extend(record_problems)
            continue
        if part.of_department:
            department_code = record.get("department")
            department = Department.objects.filter(code=department_code).first()
            if department is None:
                record_problems.append(f"{where}: no department {department_code!r}.")
            instance.department = department
        if not record_problems:
            record_problems.extend(_clean_problems(instance, where))
        # Read once the record itself is sound: its children are checked against it.
        children_before = part.children_now(instance) if part.children and instance.pk else []
        children = (
            part.read_children(instance, record.get(part.children, []), where, record_problems)
            if part.children and not record_problems
            else []
        )
        if record_problems:
            problems.extend(record_problems)
            continue
        if instance.pk is None:
            counts.created += 1
        elif _values(instance, part) != before or sorted(children) != sorted(children_before):
            counts.updated += 1
        else:
            counts.unchanged += 1
            continue
        if part.children:
            part.write_children(instance, children)
        else:
            instance.save()
    return counts


def _built(
    part: Part,
    record: object,
    label: str,
    index: int,
    seen: set[str],
    existing: dict[str, models.Model],
    **owner: models.Model,
) -> tuple[models.Model | None, list[object], str, list[str]]:
    """The instance of ``record``'s code (``existing``, or new with its ``owner``) with the
    record's plain fields set, and its values before; None when the record is not an object
    with a code."""
    if not isinstance(record, dict) or not isinstance(record.get("code"), str):
        return None, [], label, [f"{label} #{index}: must be an object with a string code."]
    code = record["code"]
    where = f"{label} {code}"
    allowed = {
        "code",
        *part.fields,
        *(["department"] if part.of_department else []),
        *([part.children] if part.children else []),
    }
    problems = [f"{where}: unknown field {name!r}." for name in sorted(set(record) - allowed)]
    if code in seen:
        problems.append(f"{where}: the code appears more than once.")
    seen.add(code)
    instance = existing.get(code) or part.model(code=code, **owner)
    before = _values(instance, part)
    for name in part.fields:
        value = record.get(name, part.model._meta.get_field(name).get_default())
        shape = _shape_problem(name, value)
        if shape:
            problems.append(f"{where}: {name} {shape}.")
        setattr(instance, name, value)
    return instance, before, where, problems


def _clean_problems(instance: models.Model, where: str, **options: object) -> list[str]:
    try:
        instance.full_clean(**options)
    except ValidationError as exc:
        return [
            f"{where}: {name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()
        ]
    return []


def _values(instance: models.Model, part: Part) -> list[object]:
    names = (*part.fields, "department_id") if part.of_department else part.fields
    return [getattr(instance, name) for name in names]


def _shape_problem(name: str, value: object) -> str:
    if name in AMOUNT_FIELDS:
        is_fen = isinstance(value, int) and not isinstance(value, bool)
        return "" if value is None or is_fen else "must be an integer number of fen"
    if name in LIST_FIELDS:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return "must be a list of strings"
        unknown = set(value) - set(CHANNEL_CODES)
        return f"names unknown channels {sorted(unknown)}" if unknown else ""
    if name in BOOLEAN_FIELDS:
        return "" if isinstance(value, bool) else "must be true or false"
    return "" if isinstance(value, str) else "must be a string"


# -- a fee item's waiver rules ------------------------------------------------------------


def _waiver_rules(item: FeeItem, records: object, where: str, problems: list[str]) -> list:
    """The item's rules as wanted: those listed, and those no longer listed, inactive."""
    if not isinstance(records, list):
        problems.append(f"{where}: waiver_rules must be a list.")
        return []
    existing = {rule.code: rule for rule in item.waiver_rules.all()} if item.pk else {}
    ceiling = item.standard_amount if item.standard_amount is not None else item.max_amount
    listed: dict[str, tuple] = {}
    seen: set[str] = set()
    for index, record in enumerate(records, start=1):
        rule, _, at, rule_problems = _built(
            RULES, record, f"{where}: waiver rule", index, seen, existing, fee_item=item
        )
        if rule is not None and not rule_problems:
            # The fee item may be new: its rules' uniqueness is the seen codes'.
            rule_problems = _clean_problems(rule, at, exclude=["fee_item"], validate_unique=False)
        if rule is not None and not rule_problems:
            if rule.reduced_amount is not None and rule.reduced_amount >= (ceiling or 0):
                rule_problems.append(
                    f"{at}: reduced_amount {rule.reduced_amount} fen is not below the "
                    f"standard {ceiling} fen."
                )
            listed[rule.code] = _rule_row(rule)
        problems.extend(rule_problems)
    dropped = [
        (*_rule_row(rule)[:-1], False) for code, rule in existing.items() if code not in listed
    ]
    return [*listed.values(), *dropped]


def _rule_row(rule: WaiverRule) -> tuple:
    return (rule.code, rule.label, rule.kind, rule.reduced_amount, rule.active)


def _waiver_rules_now(item: FeeItem) -> list[tuple]:
    return [_rule_row(rule) for rule in item.waiver_rules.all()]


def _write_waiver_rules(item: FeeItem, wanted: list[tuple]) -> None:
    item.save()
    for code, label, kind, reduced_amount, active in wanted:
        WaiverRule.objects.update_or_create(
            fee_item=item,
            code=code,
            defaults={
                "label": label,
                "kind": kind,
                "reduced_amount": reduced_amount,
                "active": active,
            },
        )


# -- a service item's fees ----------------------------------------------------------------


def _service_item_fees(
    item: ServiceItem, records: object, where: str, problems: list[str]
) -> list[tuple]:
    """The fee items the item charges, each with its stage: ``(fee item id, stage)``."""
    if not isinstance(records, list):
        problems.append(f"{where}: fees must be a list.")
        return []
    if item.no_fee and records:
        problems.append(f"{where}: declared free of charge (no_fee), it lists fee items.")
    if not item.no_fee and not records:
        problems.append(f"{where}: lists no fee items; an item that charges none has no_fee.")
    wanted: dict[int, tuple] = {}
    for index, record in enumerate(records, start=1):
        at = f"{where}: fee #{index}"
        if not isinstance(record, dict) or set(record) != {"fee_item", "stage"}:
            problems.append(f'{at}: must be an object with "fee_item" and "stage".')
            continue
        fee_item = FeeItem.objects.filter(code=record["fee_item"]).first()
        if fee_item is None:
            problems.append(f"{at}: no fee item {record['fee_item']!r}.")
        elif fee_item.kind != FeeKind.FEE:
            problems.append(f"{at}: {fee_item.code} is freight, not a fee of a service item.")
        elif fee_item.department_id != item.department_id:
            problems.append(f"{at}: {fee_item.code} is collected by another department.")
        elif fee_item.pk in wanted:
            problems.append(f"{at}: {fee_item.code} appears more than once.")
        elif record["stage"] not in ChargeStage.values:
            problems.append(f"{at}: stage must be one of {', '.join(ChargeStage.values)}.")
        else:
            wanted[fee_item.pk] = (fee_item.pk, record["stage"])
    return list(wanted.values())


def _service_item_fees_now(item: ServiceItem) -> list[tuple]:
    return list(item.fees.values_list("fee_item_id", "stage"))


def _write_service_item_fees(item: ServiceItem, wanted: list[tuple]) -> None:
    stages = dict(wanted)
    if item.pk:  # the fees left out go first: the item may now declare no fee
        item.fees.exclude(fee_item_id__in=stages).delete()
    item.save()
    for fee_item_id, stage in stages.items():
        ServiceItemFee.objects.update_or_create(
            service_item=item, fee_item_id=fee_item_id, defaults={"stage": stage}
        )


DEPARTMENTS = Part(Department, DEPARTMENT_FIELDS)
RULES = Part(WaiverRule, WAIVER_RULE_FIELDS)
FEE_ITEMS = Part(
    FeeItem,
    FEE_ITEM_FIELDS,
    of_department=True,
    children="waiver_rules",
    read_children=_waiver_rules,
    children_now=_waiver_rules_now,
    write_children=_write_waiver_rules,
)
SERVICE_ITEMS = Part(
    ServiceItem,
    SERVICE_ITEM_FIELDS,
    of_department=True,
    children="fees",
    read_children=_service_item_fees,
    children_now=_service_item_fees_now,
    write_children=_write_service_item_fees,
)
