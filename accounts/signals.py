"""`scheduling_changed`: what the scheduler reads about accounts, groups or memberships has changed.

The accounts app sends it: its state methods (rate limits, errors, quota resets) and every save or
delete of an account, proxy, group or membership (`row_changed`, connected in `AccountsConfig.ready()`).
Anyone who changes those rows with a queryset `update()` sends it too (`send_scheduling_changed()`).
The gateway's scheduler receives it and drops its cached candidate lists, here and in every other
process.
"""

from django.dispatch import Signal

scheduling_changed = Signal()


def send_scheduling_changed(sender=None) -> None:
    scheduling_changed.send(sender=sender)


def row_changed(sender, **kwargs):
    """A receiver for the saves and deletes of the rows the scheduler reads (connected in AccountsConfig)."""
    if kwargs.get("action", "post").startswith("post"):  # m2m_changed fires pre_* and post_*
        scheduling_changed.send(sender=sender)
