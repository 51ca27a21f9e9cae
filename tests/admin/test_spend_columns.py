"""Keys and users lists show spend today / 7 days / total for every row (quota or not), and the key and
user pages link to their usage logs."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import UsageLog

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def spent(admin_user, make_key):
    """A key without a quota that spent $0.50 today, $1.25 three days ago and $2 a month ago; another
    user's key that spent $7 today."""
    from users.models import User

    key = make_key(name="no-quota")
    other_user = User.objects.create_user("other@example.com", "pw-other-123")
    other = make_key(name="other", user=other_user)
    now = timezone.now()
    for n, (k, ago, amount) in enumerate([(key, 0, "0.5"), (key, 3, "1.25"), (key, 30, "2"), (other, 0, "7")]):
        log = UsageLog.objects.create(request_id=f"r{n}", user=k.user, api_key=k, model="m", actual_cost=D(amount),
                                      total_cost=D(amount))
        UsageLog.objects.filter(pk=log.pk).update(created_at=now - timedelta(days=ago))
    return key, other


def rows_by(response, attr):
    return {getattr(obj, attr): obj.spend for obj in response.context["cl"].result_list}


def test_key_list_shows_spend_of_every_key(client_admin, spent, make_key):
    idle = make_key(name="idle", quota=D(0))
    response = client_admin.get(reverse("admin:apikeys_apikey_changelist"))
    spend = rows_by(response, "name")
    assert spend["no-quota"] == {"today": D("0.5"), "7d": D("1.75"), "total": D("3.75")}
    assert spend["other"] == {"today": D(7), "7d": D(7), "total": D(7)}
    assert spend[idle.name] == {"today": D(0), "7d": D(0), "total": D(0)}
    page = response.content.decode()
    assert "$1.75" in page and "$3.75" in page
    assert f"api_key__id__exact={spent[0].pk}" in page


def test_user_list_shows_spend_of_every_user(client_admin, spent, admin_user):
    response = client_admin.get(reverse("admin:users_user_changelist"))
    spend = rows_by(response, "email")
    assert spend[admin_user.email] == {"today": D("0.5"), "7d": D("1.75"), "total": D("3.75")}
    assert spend["other@example.com"]["total"] == D(7)
    assert f"user__id__exact={admin_user.pk}" in response.content.decode()


def test_key_page_links_to_its_usage_logs(client_admin, spent):
    key, other = spent
    page = client_admin.get(reverse("admin:apikeys_apikey_change", args=[key.pk])).content.decode()
    url = reverse("admin:billing_usagelog_changelist") + f"?api_key__id__exact={key.pk}"
    assert f'href="{url}" id="usage-logs-link"' in page and "$3.75" in page
    logs = client_admin.get(url)
    assert logs.status_code == 200
    assert {log.api_key_id for log in logs.context["cl"].result_list} == {key.pk}
    assert logs.context["usage_totals"]["actual_cost"] == D("3.75")


def test_user_page_links_to_its_usage_logs(client_admin, spent, admin_user):
    page = client_admin.get(reverse("admin:users_user_change", args=[admin_user.pk])).content.decode()
    url = reverse("admin:billing_usagelog_changelist") + f"?user__id__exact={admin_user.pk}"
    assert f'href="{url}" id="usage-logs-link"' in page
    logs = client_admin.get(url)
    assert {log.user_id for log in logs.context["cl"].result_list} == {admin_user.pk}


def test_api_keys_ranking_orders_keys_by_what_they_cost(spent):
    from usage import stats

    key, other = spent
    ranking = stats.api_keys_ranking(stats.make_filter(default_days=7))
    assert [(r["api_key_id"], r["actual_cost"]) for r in ranking] == [(other.pk, D(7)), (key.pk, D("1.75"))]
    assert ranking[0]["key_name"] == "other" and ranking[0]["user_email"] == "other@example.com"
    assert [r["api_key_id"] for r in stats.api_keys_ranking(stats.make_filter(default_days=7), limit=1)] == [other.pk]
