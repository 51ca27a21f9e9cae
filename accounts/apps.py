from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Upstream accounts")

    def ready(self):
        from accounts.signals import connect_model_signals

        connect_model_signals()  # saves and deletes of accounts, groups and memberships: scheduling_changed
