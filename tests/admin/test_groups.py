"""S6 in the admin: group lists follow sort_order then id; the changelist's order inputs persist."""

import importlib

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_changelist_and_choosers_follow_sort_order(client_admin, make_group):
    a = make_group("A", sort_order=10)
    make_group("B")
    make_group("C")
    names = [g.name for g in client_admin.get(reverse("admin:groups_group_changelist")).context["cl"].result_list]
    assert names == ["B", "C", "A"]
    key_form = client_admin.get(reverse("admin:apikeys_apikey_add")).context["adminform"].form
    assert [g.name for g in key_form.fields["group"].queryset] == ["B", "C", "A"]
    assert a.pk


def test_saving_reordered_list_persists(client_admin, make_group):
    from groups.models import Group

    groups = [make_group(n, sort_order=i) for i, n in enumerate(["A", "B", "C"])]
    url = reverse("admin:groups_group_changelist")
    data = {"form-TOTAL_FORMS": "3", "form-INITIAL_FORMS": "3", "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000", "_save": "Save"}
    new_order = {groups[2].pk: 0, groups[0].pk: 1, groups[1].pk: 2}  # C, A, B
    for i, group in enumerate(groups):
        data[f"form-{i}-id"] = str(group.pk)
        data[f"form-{i}-sort_order"] = str(new_order[group.pk])
    assert client_admin.post(url, data).status_code == 302
    assert list(Group.objects.values_list("name", flat=True)) == ["C", "A", "B"]


def test_new_group_gets_zero_and_comes_first(client_admin, make_group):
    from groups.models import Group

    make_group("old", sort_order=3)
    data = {"name": "new", "platform": "anthropic", "rate_multiplier": "1", "status": "active",
            "subscription_type": "standard", "default_validity_days": "30", "model_routing": "{}",
            "sort_order": "0", "description": "",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000"}
    response = client_admin.post(reverse("admin:groups_group_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Group.objects.get(name="new").sort_order == 0
    assert Group.objects.first().name == "new"


def test_group_accounts_inline_is_ordered_by_sort_value(client_admin, make_group, make_account):
    from groups.models import GroupAccount

    group = make_group("g")
    first, second = make_account(name="first"), make_account(name="second")
    GroupAccount.objects.create(group=group, account=second, sort_value=1)
    GroupAccount.objects.create(group=group, account=first, sort_value=0)
    response = client_admin.get(reverse("admin:groups_group_change", args=[group.pk]))
    formset = response.context["inline_admin_formsets"][0].formset
    assert [f.instance.account.name for f in formset.forms] == ["first", "second"]
    assert list(group.accounts.values_list("name", flat=True)) == ["first", "second"]


def test_backfill_migration_sets_sort_order_to_id(make_group):
    from django.apps import apps

    from groups.models import Group

    g5, g9, placed = make_group("g5"), make_group("g9"), make_group("placed", sort_order=1)
    migration = importlib.import_module("groups.migrations.0002_backfill_sort_order")
    migration.backfill(apps, None)
    assert Group.objects.get(pk=g5.pk).sort_order == g5.pk
    assert Group.objects.get(pk=g9.pk).sort_order == g9.pk
    assert Group.objects.get(pk=placed.pk).sort_order == 1
    Group.objects.all().delete()
    migration.backfill(apps, None)  # empty table: a no-op
