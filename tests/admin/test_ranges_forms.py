"""The admin forms refuse what a column cannot hold, with the model field's message (core.columns)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_admin_form_refuses(client_admin):
    response = client_admin.post(reverse("admin:groups_group_add"), {
        "name": "g", "platform": "anthropic", "rate_multiplier": "1", "status": "active",
        "subscription_type": "standard", "default_validity_days": str(2**40), "model_routing": "{}",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200
    assert "default_validity_days" in response.context["adminform"].form.errors


def test_the_admin_user_form_refuses_a_concurrency_beyond_the_column(client_admin, django_user_model):
    user = django_user_model.objects.create_user("c@example.com", "pw-user-1234")
    form_class = type(client_admin.get(reverse("admin:users_user_change", args=[user.pk])).context["adminform"].form)
    from django.forms.models import model_to_dict

    values = {k: v for k, v in model_to_dict(user).items() if v is not None}
    form = form_class({**values, "concurrency": str(2**31)}, instance=user)
    assert not form.is_valid() and "concurrency" in form.errors
