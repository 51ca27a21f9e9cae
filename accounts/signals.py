"""`scheduling_changed`: what the scheduler reads about accounts, groups or memberships has changed.

The accounts app sends it: its state methods (rate limits, errors, quota resets) and every save or
delete of an account, proxy, group or membership (connected in `AccountsConfig.ready()`). Anyone who
changes those rows with a queryset `update()` sends it too (`send_scheduling_changed()`). The gateway's
scheduler receives it and drops its cached candidate lists, here and in every other process.
"""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import Signal

scheduling_changed = Signal()


def send_scheduling_changed(sender=None) -> None:
    scheduling_changed.send(sender=sender)


def _row_changed(sender, **kwargs):
    if kwargs.get("action", "post").startswith("post"):  # m2m_changed fires pre_* and post_*
        scheduling_changed.send(sender=sender)


def connect_model_signals() -> None:
    from accounts.models import Account, Proxy
    from groups.models import Group, GroupAccount

    for model in (Account, Proxy, Group, GroupAccount):
        post_save.connect(_row_changed, sender=model, dispatch_uid=f"scheduling-save-{model.__name__}")
        post_delete.connect(_row_changed, sender=model, dispatch_uid=f"scheduling-delete-{model.__name__}")
    m2m_changed.connect(_row_changed, sender=Group.accounts.through, dispatch_uid="scheduling-group-accounts")
