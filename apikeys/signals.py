"""Model signals that keep the key-auth cache honest: any saved or deleted key, user, group or
user-group rate drops the cached snapshots it appears in, once the change is committed."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apikeys import cache
from apikeys.models import ApiKey
from groups.models import Group
from users.models import User, UserGroupRate


@receiver([post_save, post_delete], sender=ApiKey, dispatch_uid="authcache-apikey")
def _key_changed(sender, instance, **kwargs):
    key_hash = instance.key_hash
    transaction.on_commit(lambda: cache.invalidate_key(key_hash))


@receiver([post_save, post_delete], sender=User, dispatch_uid="authcache-user")
def _user_changed(sender, instance, **kwargs):
    user_id = instance.pk
    transaction.on_commit(lambda: cache.invalidate_user(user_id))


@receiver([post_save, post_delete], sender=UserGroupRate, dispatch_uid="authcache-user-rate")
def _user_rate_changed(sender, instance, **kwargs):
    user_id = instance.user_id
    transaction.on_commit(lambda: cache.invalidate_user(user_id))


@receiver([post_save, post_delete], sender=Group, dispatch_uid="authcache-group")
def _group_changed(sender, instance, **kwargs):
    transaction.on_commit(cache.invalidate_all)
