import pytest
from django.db import connection

from accounts.models import Account
from core.fields import decrypt, encrypt


def test_encrypt_round_trip_and_tokens_differ():
    token = encrypt("sk-ant-secret")
    assert token != "sk-ant-secret" and encrypt("sk-ant-secret") != token  # random IV
    assert decrypt(token) == "sk-ant-secret"


def test_wrong_key_is_a_clear_error(settings):
    token = encrypt("x")
    settings.CREDENTIALS_KEY = "A" * 43 + "="
    with pytest.raises(ValueError, match="CREDENTIALS_KEY"):
        decrypt(token)


def test_key_rotation_keeps_old_tokens_readable(settings):
    from cryptography.fernet import Fernet

    old = settings.CREDENTIALS_KEY
    token = encrypt("kept")
    settings.CREDENTIALS_KEY = f"{Fernet.generate_key().decode()},{old}"
    assert decrypt(token) == "kept"


@pytest.mark.django_db
def test_secrets_never_reach_the_database_in_clear():
    account = Account.objects.create(name="a", type="apikey", api_key="sk-ant-very-secret", access_token="")
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key, access_token FROM accounts_account WHERE id = %s", [account.pk])
        stored_key, stored_token = cursor.fetchone()
    assert "very-secret" not in stored_key and stored_key.startswith("gAAAA")
    assert stored_token == ""  # empty stays empty
    assert Account.objects.get(pk=account.pk).api_key == "sk-ant-very-secret"
