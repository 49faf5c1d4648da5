"""GET /healthz, for load balancers and Docker's HEALTHCHECK. HealthCheckMiddleware
answers it before host validation and HTTPS redirects; shares/urls.py routes it too."""

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import photostore


@csrf_exempt  # it changes nothing; without this an unknown method met the CSRF check, not 405
@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and Docker's HEALTHCHECK: the database and storage answer."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = exc.__class__.__name__
    try:
        photostore.check()
        checks["storage"] = "ok"
    except photostore.StorageUnavailable:
        checks["storage"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )
