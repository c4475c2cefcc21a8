"""Work after commit whose failure is logged, never raised into the committed request."""

from __future__ import annotations

import pytest
from django.db import transaction

from core.commit_hooks import after_commit

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failing_callback_after_commit_is_logged_and_the_caller_goes_on(caplog):
    called = []

    def queue_task(row_id: int) -> None:
        called.append(row_id)
        raise ConnectionError("the broker is down")

    with transaction.atomic():
        after_commit(queue_task, 7)
        assert called == []  # nothing before the commit

    assert called == [7]
    assert "queue_task" in caplog.text and "the broker is down" in caplog.text


def test_nothing_is_called_when_the_transaction_rolls_back():
    called = []

    with pytest.raises(RuntimeError), transaction.atomic():
        after_commit(called.append, 1)
        raise RuntimeError("rolled back")

    assert called == []
