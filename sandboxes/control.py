"""Controls of the sandboxes as a whole (each provider's own are under its ``_control/``)."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sandboxes import state


@csrf_exempt
@require_POST
def reset(request: HttpRequest) -> HttpResponse:
    """Every sandbox forgets its trades, waybills, accounts, modes and faults: a test's clean
    slate."""
    state.reset_all()
    return HttpResponse(status=204)
