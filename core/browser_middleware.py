"""Django's middleware for browsers, stepping aside on the paths that only machines call.

A courier's push, a channel's notification and a health probe carry no cookie, fill in
no form and get no translated text: a session, a user, a language, a CSRF cookie and
flash messages have nothing to do for them, yet cost about a tenth of a push's CPU. Each
class here is Django's own with one change: a request on those paths goes straight on.

The portal API keeps the session and the user (staff may call it signed in) and the
language (DRF's messages follow Accept-Language), and skips the CSRF cookie and the
messages: every one of its views is csrf_exempt (DRF checks a session's CSRF token
itself) and none flashes a message. CsrfViewMiddleware's process_view still runs
everywhere, so a view that is not exempt stays protected.
"""

from __future__ import annotations

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import csrf, locale

# Paths no browser calls: couriers' pushes and channels' notifications, the probes.
MACHINE_ONLY = ("/notify/", "/healthz", "/readyz")
PORTAL_API = ("/api/v1/",)


def _stepping_aside(middleware: type, prefixes: tuple[str, ...]) -> type:
    class SteppingAside(middleware):
        def __call__(self, request):
            if request.path.startswith(prefixes):
                return self.get_response(request)
            return super().__call__(request)

    SteppingAside.__name__ = SteppingAside.__qualname__ = middleware.__name__
    SteppingAside.__module__ = __name__
    SteppingAside.__doc__ = f"{middleware.__name__}, except on {', '.join(prefixes)}."
    return SteppingAside


SessionMiddleware = _stepping_aside(sessions.SessionMiddleware, MACHINE_ONLY)
LocaleMiddleware = _stepping_aside(locale.LocaleMiddleware, MACHINE_ONLY)
CsrfViewMiddleware = _stepping_aside(csrf.CsrfViewMiddleware, MACHINE_ONLY + PORTAL_API)
AuthenticationMiddleware = _stepping_aside(auth.AuthenticationMiddleware, MACHINE_ONLY)
MessageMiddleware = _stepping_aside(messages.MessageMiddleware, MACHINE_ONLY + PORTAL_API)
