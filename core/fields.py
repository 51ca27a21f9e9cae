"""Credentials encrypted at rest.

Fernet (AES-128-CBC + HMAC) with the key(s) from settings.CREDENTIALS_KEY: the first key encrypts,
every listed key decrypts, so a key can be rotated by prepending a new one and re-saving.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])


def encrypt(plain: str) -> str:
    return _fernet(settings.CREDENTIALS_KEY).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.CREDENTIALS_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("credential cannot be decrypted with the configured CREDENTIALS_KEY") from exc


class EncryptedTextField(models.TextField):
    """A secret string; the database only ever sees its Fernet token. Empty stays empty."""

    description = "Text encrypted at rest"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
