"""The embedded settings, with bench/urls.py as the URLconf: the service plus a baseline."""

from config.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
