from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApikeysConfig(AppConfig):
    name = "apikeys"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("API keys")

    def ready(self):
        from apikeys import signals  # noqa: F401  (connects the auth-cache invalidation)
