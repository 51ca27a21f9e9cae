"""OpenAI accounts in the admin: the account form creates one that the OpenAI upstream serves."""

import pytest
from django.urls import reverse

from accounts.models import Account
from gateway import upstreams
from gateway.upstreams.openai import OpenAIApiKey
from tests.admin.test_secrets import _account_post

pytestmark = pytest.mark.django_db


def test_an_openai_api_key_account_is_added_from_the_form(client_admin, make_group):
    group = make_group(name="gpt", platform="openai")
    data = _account_post(name="openai-1", platform="openai", base_url="https://api.openai.com/v1",
                         api_key="sk-proj-SECRET-0123456789", groups=[group.pk], pool_mode="on")
    response = client_admin.post(reverse("admin:accounts_account_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    account = Account.objects.get(name="openai-1")
    assert (account.platform, account.type, account.api_key) == ("openai", "apikey", "sk-proj-SECRET-0123456789")
    assert list(account.groups.all()) == [group] and account.pool_mode
    assert isinstance(upstreams.for_account(account), OpenAIApiKey)
    listing = client_admin.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert "OpenAI | API key" in listing and "sk-proj-SECRET" not in listing
    page = client_admin.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert "sk-proj-SECRET" not in page and 'value="openai" selected' in page
