"""The embedded settings, with bench/urls.py as the URLconf: the service, the sandboxes and
a baseline.

The providers' base_url derive from SANDBOX_BASE_URL (config/settings/local.py), which
bench/harness.py sets: the sandboxes' own server (`manage.py sandboxes`) when a benchmark
starts one, so the server under test does not also play the providers, else the server
under test itself, which mounts them under /sandbox/.
"""

from config.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
