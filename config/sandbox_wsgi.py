"""The sandboxes' server (`manage.py sandboxes`): always their own settings."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.sandboxes"

application = get_wsgi_application()
