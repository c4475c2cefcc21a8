import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

application = get_wsgi_application()

# Each web process maps API operations to their roles before its first request, rather
# than have that request wait half a second for the schema to be generated.
from core.roles import schema_operation_ids  # noqa: E402 (needs the application set up)

schema_operation_ids()
