from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = pgettext_lazy("portal", "Portal")
