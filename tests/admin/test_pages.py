"""Every admin changelist, add and change page renders for every registered model."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_of_each(admin_user, make_account, make_group, make_key):
    from accounts.models import BetaRule, Proxy
    from billing.models import ModelPrice, UsageLog
    from groups.models import GroupAccount
    from users.models import Subscription, UserGroupRate

    account = make_account(quota_limit=Decimal(10))
    group = make_group("g1")
    GroupAccount.objects.create(group=group, account=account)
    key = make_key(group=group)
    Proxy.objects.create(name="p", host="127.0.0.1", port=8080, password="proxy-secret")
    BetaRule.objects.create(beta_token="context-1m-2025-08-07", action="filter", scope="oauth")
    from billing.models import FailedCharge

    FailedCharge.objects.create(request_id="client:x", payload={"model": "m", "usage": {}}, error="IntegrityError")
    ModelPrice.objects.create(model="m", input=Decimal(1), output=Decimal(2))
    UsageLog.objects.create(request_id="r1", user=admin_user, api_key=key, account=account, group=group, model="m")
    UserGroupRate.objects.create(user=admin_user, group=group, rate_multiplier=Decimal("1.5"))
    Subscription.objects.create(user=admin_user, group=group, expires_at=timezone.now())
    from apikeys.models import AdminApiKey

    AdminApiKey.current()


def test_every_registered_model_renders(client_admin, one_of_each):
    models = list(admin.site._registry)
    assert len(models) >= 11
    for model in models:
        opts = model._meta
        base = f"admin:{opts.app_label}_{opts.model_name}"
        assert client_admin.get(reverse(f"{base}_changelist")).status_code == 200, opts.label
        obj = model._default_manager.first()
        assert obj is not None, f"no {opts.label} to open"
        response = client_admin.get(reverse(f"{base}_change", args=[obj.pk]))
        assert response.status_code == 200, opts.label
        add = client_admin.get(reverse(f"{base}_add"))
        model_admin = admin.site._registry[model]
        expected = 200 if model_admin.has_add_permission(add.wsgi_request) else 403
        assert add.status_code == expected, opts.label


def test_admin_index_lists_apps(client_admin):
    response = client_admin.get("/admin/")
    assert response.status_code == 200
    assert b"Upstream accounts" in response.content


def test_the_beta_policy_page_explains_itself_and_saves_a_rule(client_admin):
    from accounts.models import BetaRule

    page = client_admin.get(reverse("admin:accounts_betarule_changelist")).content.decode()
    assert "How the beta policy works" in page and "/api/v1/admin/settings/beta-policy" in page
    response = client_admin.post(reverse("admin:accounts_betarule_add"), {
        "beta_token": "x-beta", "action": "block", "scope": "bedrock", "error_message": "not on Bedrock",
    })
    assert response.status_code == 302
    rule = BetaRule.objects.get()
    assert (rule.beta_token, rule.action, rule.scope) == ("x-beta", "block", "bedrock")
    listing = client_admin.get(reverse("admin:accounts_betarule_changelist")).content.decode()
    assert "x-beta" in listing and "Bedrock accounts" in listing
