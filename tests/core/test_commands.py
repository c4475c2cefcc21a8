import json
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import Department, FeeItem
from core.models import ApiClient
from demo.reference import DEMO_CATALOGUE

pytestmark = pytest.mark.django_db


def run(*args: str, **options: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue().splitlines()


def departments_status(client, key: str) -> int:
    return client.get("/api/v1/departments", HTTP_AUTHORIZATION=f"Bearer {key}").status_code


def test_create_api_client_prints_a_working_key_as_its_last_line_only(client):
    *before, key = run("create_api_client", "portal-one", role="portal")

    assert departments_status(client, key) == 200
    assert all(key not in line for line in before)
    assert ApiClient.objects.get(name="portal-one").key_hash != key


def test_create_api_client_refuses_a_name_in_use():
    run("create_api_client", "portal-one", role="portal")

    with pytest.raises(CommandError, match="already exists"):
        run("create_api_client", "portal-one", role="portal")


def test_revoke_api_client_makes_its_key_fail(client):
    key = run("create_api_client", "portal-one", role="portal")[-1]

    run("revoke_api_client", "portal-one")

    assert departments_status(client, key) == 401
    assert "already revoked" in run("revoke_api_client", "portal-one")[0]


def test_load_catalogue_twice_changes_nothing_the_second_time():
    first = run("load_catalogue", str(DEMO_CATALOGUE))
    second = run("load_catalogue", str(DEMO_CATALOGUE))

    assert first == [
        "Departments: 5 created, 0 updated, 0 unchanged.",
        "Fee items: 15 created, 0 updated, 0 unchanged.",
        "Service items: 12 created, 0 updated, 0 unchanged.",
    ]
    assert second == [
        "Departments: 0 created, 0 updated, 5 unchanged.",
        "Fee items: 0 created, 0 updated, 15 unchanged.",
        "Service items: 0 created, 0 updated, 12 unchanged.",
    ]
    assert (Department.objects.count(), FeeItem.objects.count()) == (5, 15)


def test_load_catalogue_updates_a_changed_fee_item(tmp_path: Path):
    run("load_catalogue", str(DEMO_CATALOGUE))
    catalogue = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))
    catalogue["fee_items"][0]["standard_amount"] += 1000
    changed = tmp_path / "catalogue.json"
    changed.write_text(json.dumps(catalogue, ensure_ascii=False), encoding="utf-8")

    expected = "Fee items: 0 created, 1 updated, 14 unchanged."
    assert run("load_catalogue", str(changed))[1] == expected
    item = FeeItem.objects.get(code=catalogue["fee_items"][0]["code"])
    assert item.standard_amount == catalogue["fee_items"][0]["standard_amount"]


def test_load_catalogue_refuses_an_invalid_file_and_writes_nothing(tmp_path: Path):
    catalogue = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))
    catalogue["fee_items"][0]["standard_amount"] = 120.5
    catalogue["fee_items"][1]["department"] = "no-such-department"
    catalogue["departments"][0]["region_code"] = "3301"
    invalid = tmp_path / "catalogue.json"
    invalid.write_text(json.dumps(catalogue, ensure_ascii=False), encoding="utf-8")

    with pytest.raises(CommandError) as error:
        run("load_catalogue", str(invalid))

    message = str(error.value)
    assert "standard_amount must be an integer number of fen" in message
    assert "no department 'no-such-department'" in message
    assert "region_code" in message
    assert (Department.objects.count(), FeeItem.objects.count()) == (0, 0)


def test_seed_demo_twice_keeps_one_portal_client_and_replaces_its_key(client):
    first = run("seed_demo")
    second = run("seed_demo")

    assert departments_status(client, first[-1]) == 401
    assert departments_status(client, second[-1]) == 200
    assert ApiClient.objects.filter(name="demo-portal").count() == 1
    assert "shown this once" in first[2] and "shown this once" not in second[2]
    finance = get_user_model().objects.get(username="finance")
    assert finance.is_staff and finance.groups.filter(name="finance").exists()
    assert (Department.objects.count(), FeeItem.objects.count()) == (5, 15)
