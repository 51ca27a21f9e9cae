"""The admin speaks Simplified Chinese when the browser asks for it, including our own strings."""

from decimal import Decimal

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_account_list_in_chinese(client_admin, make_account):
    make_account(quota_limit=Decimal(1), quota_used=Decimal(1))
    html = client_admin.get(reverse("admin:accounts_account_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans").content
    text = html.decode()
    assert "上游账号" in text  # app name
    assert "额度已超" in text  # state column
    assert "重置额度" in text  # reset action
    english = client_admin.get(reverse("admin:accounts_account_changelist"), HTTP_ACCEPT_LANGUAGE="en").content
    assert "Quota exceeded" in english.decode() and "额度已超" not in english.decode()


def test_key_form_in_chinese(client_admin, make_key):
    key = make_key(quota=Decimal(5))
    text = client_admin.get(reverse("admin:apikeys_apikey_change", args=[key.pk]),
                            HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "额度与有效期" in text and "+30 天" in text


def test_language_switcher_is_wired(client_admin):
    response = client_admin.post("/i18n/setlang/", {"language": "zh-hans", "next": "/admin/"})
    assert response.status_code == 302
    assert "上游账号" in client_admin.get("/admin/").content.decode()
