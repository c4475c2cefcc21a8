"""The billing and logistics tests' fixtures serve here: a fee, keys, an agency that ships."""

from datetime import date

import pytest

from reconciliation.models import ReconciliationRun, StatementFile
from reconciliation.parties import parse_party
from reconciliation.services import runs
from reconciliation.statements import statement_store
from tests.billing.conftest import finance, portal  # noqa: F401
from tests.logistics.conftest import agency, freight_item, portal_http  # noqa: F401


@pytest.fixture
def in_process_runs(monkeypatch):
    """The test executes runs itself: nothing is queued for the worker, and nothing after."""
    monkeypatch.setattr(runs, "_enqueue", lambda run_id: None)
    monkeypatch.setattr(runs, "_after", lambda run_id: None)


def run_on_statement(party_code: str, business_date: date, content: bytes) -> ReconciliationRun:
    """The party's run of the date on a file of ``content`` uploaded for it, executed in
    this process (with ``in_process_runs``)."""
    statement_store(
        party=parse_party(party_code),
        business_date=business_date,
        content=content,
        source=StatementFile.Source.UPLOADED,
    )
    return run_of(party_code, business_date)


def run_of(party_code: str, business_date: date) -> ReconciliationRun:
    """The party's run of the date, queued and executed in this process (with
    ``in_process_runs``)."""
    run = runs.run_request(business_date=business_date, party_code=party_code, actor="user:test")
    return runs.run_execute(run_id=run.pk)
