from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from gateway.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # the admin's language switcher
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/", include("config.api_urls")),
    path("", include("gateway.urls")),
]
