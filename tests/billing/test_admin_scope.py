from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from billing.models import StaffScope
from core.auth import FINANCE_GROUP
from tests.billing.conftest import create_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def scoped_staff(other_department):
    user = User.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    user.groups.add(Group.objects.get(name=FINANCE_GROUP))
    StaffScope.objects.create(user=user).departments.add(other_department)
    return user


def test_department_scoped_staff_see_only_their_departments_orders(
    client, portal, fixed_fee, other_department, scoped_staff
):
    ours = create_order(portal)
    client.force_login(scoped_staff)

    page = client.get("/admin/billing/paymentorder/")
    api = client.get("/api/v1/payment-orders")

    assert page.status_code == 200
    assert ours["payment_code"] not in page.content.decode()
    assert api.status_code == 200
    assert api.json()["results"] == []


def test_unscoped_finance_staff_see_every_order_and_may_not_edit_it(client, portal, fixed_fee):
    order = create_order(portal)
    user = User.objects.create_user("chief", password="pw-chief-1", is_staff=True)
    user.groups.add(Group.objects.get(name=FINANCE_GROUP))
    client.force_login(user)

    page = client.get("/admin/billing/paymentorder/")
    api = client.get(f"/api/v1/payment-orders/{order['id']}")
    add = client.get("/admin/billing/paymentorder/add/")

    assert order["payment_code"] in page.content.decode()
    assert api.json()["id"] == order["id"]
    assert add.status_code == 403
