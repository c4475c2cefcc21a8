from __future__ import annotations

from django.db import connection
from django.http import JsonResponse

from config.celery_app import app as celery_app


def liveness(request):
    return JsonResponse({"status": "ok"})


def readiness(request):
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    ready = all(value in ("ok", "in-process") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _database_ok() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        return f"error: {type(exc).__name__}"


def _broker_ok() -> str:
    if celery_app.conf.task_always_eager:
        return "in-process"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        return f"error: {type(exc).__name__}"
