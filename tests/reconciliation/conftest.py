"""The billing and logistics tests' fixtures serve here: a fee, keys, an agency that ships."""

import pytest

from reconciliation.services import runs
from tests.billing.conftest import finance, fixed_fee, portal  # noqa: F401
from tests.logistics.conftest import agency, freight_item, portal_http  # noqa: F401


@pytest.fixture
def in_process_runs(monkeypatch):
    """The test executes runs itself: nothing is queued for the worker, and nothing after."""
    monkeypatch.setattr(runs, "_enqueue", lambda run_id: None)
    monkeypatch.setattr(runs, "_after", lambda run_id: None)
