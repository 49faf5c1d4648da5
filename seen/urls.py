from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("shares.urls")),
]

handler400 = "shares.views.bad_request"
handler403 = "shares.views.permission_denied"
handler404 = "shares.views.page_not_found"
handler500 = "shares.views.server_error"
