"""Secrets are write-only in the admin: never in any page's HTML after entry; empty on edit keeps them."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.admin.conftest import SECRETS

pytestmark = pytest.mark.django_db


def _account_post(**overrides):
    data = {
        "name": "secret-acct", "platform": "anthropic", "type": "apikey", "status": "active", "schedulable": "on",
        "notes": "", "base_url": "", "bedrock_auth_mode": "sigv4", "aws_access_key_id": "AKIDEXAMPLE",
        "aws_region": "us-east-1", "model_mapping": "{}", "allowed_models": "[]", "proxy": "",
        "priority": "50", "concurrency": "3", "load_factor": "", "rate_multiplier": "1", "expires_at_0": "",
        "expires_at_1": "", "auto_pause_on_expired": "on", "pool_mode_retry_count": "3", "cache_ttl_override": "",
        "quota_daily_limit": "0", "quota_weekly_limit": "0", "quota_limit": "0",
        "quota_daily_reset_mode": "rolling", "quota_daily_reset_hour": "0", "quota_weekly_reset_mode": "rolling",
        "quota_weekly_reset_day": "1", "quota_weekly_reset_hour": "0", "quota_reset_timezone": "UTC",
        "error_message": "", "token_expires_at_0": "", "token_expires_at_1": "",
        **{name: "" for name in SECRETS},
    }
    data.update(overrides)
    return data


def _all_admin_pages(client, account):
    urls = [
        reverse("admin:accounts_account_changelist"),
        reverse("admin:accounts_account_change", args=[account.pk]),
        reverse("admin:accounts_account_history", args=[account.pk]),
        reverse("admin:accounts_account_reset_quota_row", args=[account.pk]),
        reverse("admin:index"),
    ]
    return b"".join(client.get(url).content for url in urls)


def test_account_secrets_never_rendered_after_entry(client_admin):
    from accounts.models import Account

    response = client_admin.post(reverse("admin:accounts_account_add"), _account_post(**SECRETS))
    assert response.status_code == 302, response.content[:3000]
    account = Account.objects.get(name="secret-acct")
    assert account.api_key == SECRETS["api_key"]
    html = _all_admin_pages(client_admin, account)
    for name, secret in SECRETS.items():
        assert secret.encode() not in html, name
    assert b'type="password"' in client_admin.get(reverse("admin:accounts_account_change", args=[account.pk])).content


def test_empty_secret_on_edit_keeps_the_stored_value(client_admin, make_account):
    account = make_account(name="secret-acct", **SECRETS)
    url = reverse("admin:accounts_account_change", args=[account.pk])
    response = client_admin.post(url, _account_post(api_key="", access_token="sk-new-access"))
    assert response.status_code == 302, response.content[:3000]
    account.refresh_from_db()
    assert account.api_key == SECRETS["api_key"]
    assert account.refresh_token == SECRETS["refresh_token"]
    assert account.access_token == "sk-new-access"


def test_proxy_password_write_only(client_admin):
    from accounts.models import Proxy

    data = {"name": "p1", "protocol": "http", "host": "127.0.0.1", "port": "3128", "username": "u",
            "password": "proxy-pass-SECRET-42", "is_active": "on"}
    assert client_admin.post(reverse("admin:accounts_proxy_add"), data).status_code == 302
    proxy = Proxy.objects.get(name="p1")
    change_url = reverse("admin:accounts_proxy_change", args=[proxy.pk])
    html = client_admin.get(change_url).content + client_admin.get(reverse("admin:accounts_proxy_changelist")).content
    assert b"proxy-pass-SECRET-42" not in html
    assert client_admin.post(change_url, {**data, "password": "", "port": "3129"}).status_code == 302
    proxy.refresh_from_db()
    assert proxy.password == "proxy-pass-SECRET-42" and proxy.port == 3129


def test_api_key_secret_shown_once_then_only_prefix(client_admin, admin_user):
    from apikeys.models import ApiKey, hash_key

    data = {"user": admin_user.pk, "name": "new", "group": "", "quota": "5", "expires_at": "",
            "ip_whitelist": "", "ip_blacklist": ""}
    response = client_admin.post(reverse("admin:apikeys_apikey_add"), data, follow=True)
    assert response.status_code == 200
    key = ApiKey.objects.get(name="new")
    shown = [str(m.message) for m in response.context["messages"]]
    secret = next(re.search(r'class="sr-new-secret">([^<]+)<', m).group(1) for m in shown if "sr-new-secret" in m)
    assert hash_key(secret) == key.key_hash and key.quota == Decimal(5)
    # Never again: change page, changelist, history.
    for url in (reverse("admin:apikeys_apikey_change", args=[key.pk]), reverse("admin:apikeys_apikey_changelist"),
                reverse("admin:apikeys_apikey_history", args=[key.pk])):
        html = client_admin.get(url).content
        assert secret.encode() not in html
        assert key.prefix.encode() in html or url.endswith("/history/")


def test_admin_api_key_secret_not_in_pages(client_admin):
    from apikeys.models import AdminApiKey

    key = AdminApiKey.current()
    html = client_admin.get(reverse("admin:apikeys_adminapikey_changelist")).content
    html += client_admin.get(reverse("admin:apikeys_adminapikey_change", args=[key.pk])).content
    assert key.secret.encode() not in html
