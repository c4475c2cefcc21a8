"""The sandboxes' server (`manage.py sandboxes`): always their own settings.

Once loaded, each sandbox goes on retrying the notifications it was retrying when the
server last stopped, as a provider would.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.sandboxes"

application = get_wsgi_application()

from sandboxes.common import resume_notifications  # noqa: E402 (needs the apps ready)
from sandboxes.urls import urlpatterns  # noqa: E402, F401 (each sandbox registers its notifier)

resume_notifications()
