from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_http_methods, require_safe

from shares.ratelimits import rate_limited

# Link pages are private; the noindex header says so too, but polite crawlers stop here.
ROBOTS_TXT = "User-agent: *\nDisallow: /s/\nDisallow: /m/\nDisallow: /v/\nDisallow: /api/\n"


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    return HttpResponse(ROBOTS_TXT, content_type="text/plain; charset=utf-8")


@require_http_methods(["GET", "HEAD", "POST"])
@rate_limited("admin_login")
def admin_login(request: HttpRequest, **kwargs) -> HttpResponse:
    """The admin's own login view; every password tried is counted against the client."""
    response = admin.site.login(request, **kwargs)
    if request.method == "POST" and response.status_code == 200:
        # Refused (the form is shown again with its error): a 4xx like any refused input,
        # where Django answers 200.
        response.status_code = 400
    return response


urlpatterns = [
    # Ahead of admin.site.urls, which has the same path.
    path(f"{settings.SEEN_ADMIN_PATH}login/", admin_login, name="admin-login"),
    path(settings.SEEN_ADMIN_PATH, admin.site.urls),
    path("robots.txt", robots_txt, name="robots-txt"),
    path("", include("shares.urls")),
]

handler400 = "shares.responses.bad_request"
handler403 = "shares.responses.permission_denied"
handler404 = "shares.responses.page_not_found"
handler500 = "shares.responses.server_error"
