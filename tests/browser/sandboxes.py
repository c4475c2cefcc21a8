"""Start the demo day on empty sandboxes.

The sandboxes keep what they were told for the whole test process, so without this the
day's bills would also list every earlier test's payments of today, and the pictures of
the console would show their discrepancies as if they were the demo's.
"""

from __future__ import annotations

import requests


def sandboxes_forget(base_url: str) -> None:
    requests.post(f"{base_url}/sandbox/_control/reset", timeout=5).raise_for_status()
