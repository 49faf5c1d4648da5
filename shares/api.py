"""The JSON API: POST /api/shares, for curl and scripts."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .ratelimits import rate_limited
from .views import UploadRejected, create_from_request, share_links


@csrf_exempt  # no cookies are involved: an API client proves nothing with a CSRF token
@never_cache
@require_POST
@rate_limited("uploads")
def shares_create(request: HttpRequest) -> JsonResponse:
    try:
        created = create_from_request(request)
    except UploadRejected as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    return JsonResponse(share_links(request, created), status=201)
