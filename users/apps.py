from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsersConfig(AppConfig):
    name = "users"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Users")

    def ready(self):
        from django.contrib.auth.signals import user_login_failed

        from users.login import record_failure

        user_login_failed.connect(record_failure, dispatch_uid="users.login.record_failure")
