from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Upstream accounts")

    def ready(self):
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from accounts.models import Account, Proxy
        from accounts.signals import row_changed
        from groups.models import Group, GroupAccount

        # Saves and deletes of the rows the scheduler reads are "scheduling changed".
        for model in (Account, Proxy, Group, GroupAccount):
            post_save.connect(row_changed, sender=model, dispatch_uid=f"scheduling-save-{model.__name__}")
            post_delete.connect(row_changed, sender=model, dispatch_uid=f"scheduling-delete-{model.__name__}")
        m2m_changed.connect(row_changed, sender=Group.accounts.through, dispatch_uid="scheduling-group-accounts")
