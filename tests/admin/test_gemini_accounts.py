"""Gemini accounts in the admin: an API key is all they need; other types are refused with a field error."""

import pytest
from django.urls import reverse

from accounts.models import Account
from tests.admin.test_secrets import _account_post

pytestmark = pytest.mark.django_db


def test_the_add_form_creates_a_gemini_api_key_account(client_admin):
    response = client_admin.post(reverse("admin:accounts_account_add"), _account_post(
        name="studio", platform="gemini", type="apikey", api_key="AIza-admin-secret"))
    assert response.status_code == 302, response.content[:2000]
    account = Account.objects.get(name="studio")
    assert (account.platform, account.type, account.api_key) == ("gemini", "apikey", "AIza-admin-secret")
    page = client_admin.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert "AIza-admin-secret" not in page and 'name="base_url"' in page


def test_a_gemini_oauth_account_is_a_field_error(client_admin):
    response = client_admin.post(reverse("admin:accounts_account_add"), _account_post(
        name="cli", platform="gemini", type="oauth", access_token="ya29.token"))
    assert response.status_code == 200
    assert "gemini accounts are apikey accounts" in response.content.decode()
    assert not Account.objects.filter(name="cli").exists()


def test_the_refusal_speaks_chinese_too(client_admin):
    response = client_admin.post(reverse("admin:accounts_account_add"), _account_post(
        name="cli", platform="gemini", type="setup-token", access_token="t"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "Gemini 账号只能是 API 密钥账号" in response.content.decode()
