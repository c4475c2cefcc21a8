"""The sandboxes' own server (`manage.py sandboxes`): the outside parties, and nothing of ours.

The same development keys as config.settings.local, whose service they answer; only their
URLs and a middleware that keeps errors in JSON, since a provider has no console.
"""

from config.settings.local import *  # noqa: F403

ROOT_URLCONF = "config.sandbox_urls"
MIDDLEWARE = [
    "core.middleware.RequestGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "core.middleware.JsonErrorMiddleware",
]
# Their trades, waybills and accounts survive a restart (sandboxes/state.py).
SANDBOX_STATE_DIR = VAR_DIR / "sandboxes"  # noqa: F405
