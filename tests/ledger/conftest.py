"""The billing, logistics and reconciliation tests' fixtures serve here: the ledger is
posted to by payments, shipments and runs."""

from tests.billing.conftest import finance, portal  # noqa: F401
from tests.logistics.conftest import agency, freight_item  # noqa: F401
from tests.reconciliation.conftest import in_process_runs  # noqa: F401
