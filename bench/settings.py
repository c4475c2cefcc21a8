"""The embedded settings, with bench/urls.py as the URLconf: the service plus a baseline.

With BENCH_SANDBOX_PORT set, every provider's base_url points at the sandboxes of a second
server on that port (the same app), so the server under test does not also play the
providers: their signing and verifying happen in the other process.
"""

import os

from config.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

if _sandbox_port := os.environ.get("BENCH_SANDBOX_PORT"):
    _sandboxes = f"http://127.0.0.1:{_sandbox_port}/sandbox"
    PUBLIC_PLATFORM = {**PUBLIC_PLATFORM, "base_url": f"{_sandboxes}/public_platform"}  # noqa: F405
    ALIPAY = {**ALIPAY, "base_url": f"{_sandboxes}/alipay/gateway.do"}  # noqa: F405
    WECHATPAY = {**WECHATPAY, "base_url": f"{_sandboxes}/wechatpay"}  # noqa: F405
    UNIONPAY = {**UNIONPAY, "base_url": f"{_sandboxes}/unionpay"}  # noqa: F405
