from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView

from core import rest
from gateway import dialects
from gateway import urls as gateway_urls
from gateway.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # the admin's language switcher
    path("portal/", include("portal.urls")),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/", include("config.api_urls")),
    path("", include("gateway.urls")),
]


def not_found(request, exception):
    """A path no route serves, answered in its caller's protocol: the gateway's error shape for SDKs and
    Claude Code, the REST envelope for API scripts, Django's page for a browser."""
    path_info = request.path_info
    if path_info.startswith(gateway_urls.PREFIXES):
        return dialects.not_found(path_info)
    if path_info.startswith("/api/"):
        return JsonResponse(rest.error_body(404, "Not found"), status=404)
    return page_not_found(request, exception)


handler404 = not_found
