from django.urls import path

from . import api, health, views

urlpatterns = [
    path("", views.upload, name="upload"),
    path("api/shares", api.shares_create, name="api-shares"),
    path("api/openapi.json", api.openapi_document, name="api-openapi"),
    path("s/<str:token>", views.share, name="share"),
    path("s/<str:token>/report", views.report, name="report"),
    path("v/<str:secret>/<int:position>", views.photo, name="photo"),
    path("v/<str:secret>/done", views.done, name="done"),
    path("m/<str:token>", views.manage, name="manage"),
    path("healthz", health.healthz, name="healthz"),
    path("language", views.language, name="set-language"),
    path("jsi18n/<str:language>.js", views.javascript_catalogue, name="js-catalogue"),
]
