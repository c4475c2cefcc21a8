"""Console tests log in as staff users of a role, optionally limited to departments."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from billing.models import StaffScope
from billing.staff import ensure_finance_group
from core.auth import AUDITOR_GROUP, FINANCE_GROUP

PASSWORD = "correct horse battery staple"


def make_staff(username: str, *departments, group: str = FINANCE_GROUP):
    """A staff user in ``group`` (finance or finance_auditor), scoped when departments given."""
    ensure_finance_group()
    user = get_user_model().objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    if departments:
        scope = StaffScope.objects.create(user=user)
        scope.departments.set(departments)
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clerk(db) -> Client:
    """A finance clerk who sees every department and may act."""
    return logged_in(make_staff("clerk"))


@pytest.fixture
def approver(db) -> Client:
    """A second finance user, for four-eyes steps."""
    return logged_in(make_staff("approver"))


@pytest.fixture
def auditor(db) -> Client:
    """Reads everything, acts on nothing."""
    return logged_in(make_staff("auditor", group=AUDITOR_GROUP))
