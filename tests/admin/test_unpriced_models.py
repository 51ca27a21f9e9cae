"""Models missing from the price table are charged at the fallback price, and the admin can list them."""

import pytest
from django.urls import reverse

from billing import prices
from billing.models import ModelPrice, UsageLog

pytestmark = pytest.mark.django_db


def log(user, model, fallback):
    UsageLog.objects.create(request_id=f"r-{UsageLog.objects.count()}", user=user, model=model,
                            priced_by_fallback=fallback)


def test_price_list_shows_models_charged_at_the_fallback_price(client_admin, admin_user):
    log(admin_user, "mystery-model-1", True)
    log(admin_user, "mystery-model-1", True)
    log(admin_user, "claude-sonnet-4-5", False)
    page = client_admin.get(reverse("admin:billing_modelprice_changelist")).content.decode()
    assert 'id="unpriced-models"' in page and "mystery-model-1" in page
    assert "?model=mystery-model-1" in page
    assert [(r["model"], r["requests"]) for r in prices.unpriced_models()] == [("mystery-model-1", 2)]


def test_a_model_priced_since_is_no_longer_listed(client_admin, admin_user):
    log(admin_user, "mystery-model-2", True)
    ModelPrice.objects.create(model="mystery-model-2", input=1, output=2)
    assert prices.unpriced_models() == []
    page = client_admin.get(reverse("admin:billing_modelprice_changelist")).content.decode()
    assert 'id="unpriced-models"' not in page


def test_usage_logs_can_be_filtered_by_fallback_pricing(client_admin, admin_user):
    log(admin_user, "mystery-model-3", True)
    log(admin_user, "claude-sonnet-4-5", False)
    page = client_admin.get(reverse("admin:billing_usagelog_changelist") + "?priced_by_fallback__exact=1")
    assert page.status_code == 200
    assert [row.model for row in page.context["cl"].result_list] == ["mystery-model-3"]
