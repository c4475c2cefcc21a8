"""The simulator bends a trade through its channel's sandbox controls under the number the
channel knows it by: a notification it held back is sent at last, not lost in a 404."""

from __future__ import annotations

import pytest
import requests

from simulation.portal import pay
from simulation.world import channel_number
from tests.billing.conftest import create_order, portal  # noqa: F401 (a fixture)
from tests.billing.test_processor_flows import (  # noqa: F401 (fixtures)
    PROCESSORS,
    licensed_processors,
    portal_http,
    start,
    wait_until_paid,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("channel", ["public_platform", *PROCESSORS])
def test_a_held_back_notification_is_sent_under_the_channels_number(
    portal_http,  # noqa: F811
    channel,
):
    order = create_order(portal_http.portal)
    attempt = start(portal_http, order, channel).json()
    pay(attempt["pay_url"], notify=False)

    sent = requests.post(
        f"{portal_http.base}/sandbox/{channel}/_control/trades/"
        f"{channel_number(channel, attempt)}/notify",
        json={},
        timeout=10,
    )

    assert sent.status_code == 200, sent.text
    assert wait_until_paid(portal_http, order)["status"] == "paid"
