"""Row editors instead of JSON (issue 15): account model mapping, allowed models and group model routing
are posted as rows, stored as the same JSON as before, and refused with a message per row."""

import re

import pytest
from django.urls import reverse

from core import patterns
from tests.admin.test_secrets import _account_post

pytestmark = pytest.mark.django_db


def _rows(name, *rows):
    return {f"{name}-{i}-{c}": value for i, row in enumerate(rows) for c, value in enumerate(row)}


def _group_post(**overrides):
    data = {"name": "g", "platform": "anthropic", "rate_multiplier": "1", "status": "active",
            "subscription_type": "standard", "default_validity_days": "30", "description": "",
            "model_routing_enabled": "on",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000"}
    data.update(overrides)
    return data


def _errors(response, field):
    return [str(e) for e in response.context["adminform"].form.errors.get(field, [])]


# --- the pattern rule --------------------------------------------------------------------------------
def test_one_pattern_rule_exact_then_longest_prefix():
    table = {"claude-*": 1, "claude-opus-*": 2, "claude-opus-4-1": 3, "*": 4}
    assert patterns.best_match(table, "claude-opus-4-1") == "claude-opus-4-1"
    assert patterns.best_match(table, "claude-opus-4-5") == "claude-opus-*"
    assert patterns.best_match(table, "claude-haiku") == "claude-*"
    assert patterns.best_match(table, "gpt-5") == "*"
    assert patterns.best_match({"claude-*": 1}, "gpt-5") is None
    assert patterns.pattern_error("claude-*") is None and patterns.pattern_error("*") is None
    assert "end" in patterns.pattern_error("cl*ude")
    assert "spaces" in patterns.pattern_error("claude sonnet")
    assert "empty" in patterns.pattern_error("")


def test_wildcard_allowed_models_are_served(make_account):
    account = make_account(allowed_models=["claude-sonnet-*"])
    assert account.supports_model("claude-sonnet-4-5")
    assert not account.supports_model("claude-opus-4-1")


# --- account model mapping and allowed models ---------------------------------------------------------
def test_the_account_form_shows_rows_not_json(client_admin, make_account):
    account = make_account(model_mapping={"claude-*": "claude-sonnet-4-5", "fast": ""},
                           allowed_models=["claude-sonnet-4-5"])
    html = client_admin.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    rows = dict(re.findall(r'name="model_mapping-(\d+)-0" value="([^"]*)"', html))
    assert sorted(rows.values()) == ["claude-*", "fast"]  # PostgreSQL's jsonb keeps its own key order
    wildcard = next(i for i, v in rows.items() if v == "claude-*")
    assert f'name="model_mapping-{wildcard}-1" value="claude-sonnet-4-5"' in html
    assert 'name="allowed_models-0-0" value="claude-sonnet-4-5"' in html
    assert "subrelay/rows.js" in html and "Add mapping" in html
    assert "{&quot;claude-*&quot;" not in html  # the JSON is no longer what the operator edits


def test_rows_are_saved_as_the_same_json(client_admin):
    from accounts.models import Account

    data = _account_post(name="mapped", api_key="sk-x", **_rows(
        "model_mapping", ("claude-*", "claude-sonnet-4-5"), ("fast", "claude-haiku-4-5"), ("", ""),
    ), **_rows("allowed_models", ("claude-sonnet-4-5",), ("claude-haiku-*",)))
    data.pop("model_mapping"), data.pop("allowed_models")
    response = client_admin.post(reverse("admin:accounts_account_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    account = Account.objects.get(name="mapped")
    assert account.model_mapping == {"claude-*": "claude-sonnet-4-5", "fast": "claude-haiku-4-5"}
    assert account.allowed_models == ["claude-sonnet-4-5", "claude-haiku-*"]
    assert account.mapped_model("claude-opus-4-1") == "claude-sonnet-4-5"
    api = client_admin.get(f"/api/v1/admin/accounts/{account.pk}")
    assert api.json()["data"]["model_mapping"] == account.model_mapping  # the JSON stays on the API


def test_removing_every_row_clears_the_mapping(client_admin, make_account):
    from accounts.models import Account

    account = make_account(name="clear-me", api_key="sk-x", model_mapping={"a": "b"}, allowed_models=["a"])
    data = _account_post(name="clear-me")
    data.pop("model_mapping"), data.pop("allowed_models")
    response = client_admin.post(reverse("admin:accounts_account_change", args=[account.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    account = Account.objects.get(pk=account.pk)
    assert account.model_mapping == {} and account.allowed_models == []


def test_bad_patterns_and_duplicates_are_field_errors(client_admin):
    from accounts.models import Account

    data = _account_post(name="bad", api_key="sk-x", **_rows(
        "model_mapping", ("cl*ude", "x"), ("fast", "a"), ("fast", "b"), ("ok", "has space"),
    ), **_rows("allowed_models", ("claude sonnet",), ("a",), ("a",)))
    response = client_admin.post(reverse("admin:accounts_account_add"), data)
    assert response.status_code == 200
    mapping = _errors(response, "model_mapping")
    assert mapping == [
        "Row 1: “*” is only allowed at the end of a pattern (a prefix such as claude-*).",
        "Row 3: “fast” appears in an earlier row.",
        "Row 4: The upstream model “has space” is not a model name.",
    ]
    assert _errors(response, "allowed_models") == [
        "Row 1: A model pattern cannot contain spaces.", "Row 3: “a” appears in an earlier row.",
    ]
    html = response.content.decode()
    assert 'name="model_mapping-2-1" value="b"' in html  # what was typed is shown again, to be fixed
    assert not Account.objects.filter(name="bad").exists()


# --- group model routing ------------------------------------------------------------------------------
def test_routing_rows_choose_the_groups_accounts_by_name(client_admin, make_group, make_account):
    from groups.models import Group, GroupAccount

    group = make_group("routed")
    opus, sonnet, outsider = make_account(name="opus-pool"), make_account(name="sonnet-pool"), make_account(name="x")
    for account in (opus, sonnet):
        GroupAccount.objects.create(group=group, account=account)
    url = reverse("admin:groups_group_change", args=[group.pk])
    html = client_admin.get(url).content.decode()
    assert f'name="model_routing-__row__-1" value="{opus.pk}"> opus-pool</label>' in html  # a new row's boxes
    assert f'value="{outsider.pk}"> x</label>' not in html
    response = client_admin.post(url, _group_post(name="routed", **{
        "model_routing-0-0": "claude-opus-*", "model_routing-0-1": [str(opus.pk), str(sonnet.pk)],
        "model_routing-3-0": "claude-sonnet-4-5", "model_routing-3-1": [str(sonnet.pk)],
    }))
    assert response.status_code == 302, response.context["adminform"].form.errors
    group = Group.objects.get(pk=group.pk)
    assert group.model_routing == {"claude-opus-*": [opus.pk, sonnet.pk], "claude-sonnet-4-5": [sonnet.pk]}
    html = client_admin.get(url).content.decode()
    assert f'name="model_routing-0-1" value="{sonnet.pk}" checked> sonnet-pool</label>' in html
    assert client_admin.get(f"/api/v1/admin/groups/{group.pk}").json()["data"]["model_routing"] == group.model_routing


def test_routing_errors_unknown_account_bad_pattern_duplicate(client_admin, make_group, make_account):
    from groups.models import Group, GroupAccount

    group = make_group("strict")
    member, outsider = make_account(name="member"), make_account(name="outsider")
    GroupAccount.objects.create(group=group, account=member)
    url = reverse("admin:groups_group_change", args=[group.pk])
    response = client_admin.post(url, _group_post(name="strict", **{
        "model_routing-0-0": "a*b", "model_routing-0-1": [str(member.pk)],
        "model_routing-1-0": "claude-*", "model_routing-1-1": [str(outsider.pk)],
        "model_routing-2-0": "claude-*", "model_routing-2-1": [str(member.pk)],
        "model_routing-3-0": "gpt-5",
    }))
    assert response.status_code == 200
    assert _errors(response, "model_routing") == [
        "Row 1: “*” is only allowed at the end of a pattern (a prefix such as claude-*).",
        f"Row 2: Unknown account (not in this group): {outsider.pk}.",
        "Row 3: “claude-*” appears in an earlier row.",
        "Row 4: Choose at least one account for “gpt-5”.",
    ]
    assert Group.objects.get(pk=group.pk).model_routing == {}


def test_a_routed_account_that_left_the_group_is_flagged_not_dropped(client_admin, make_group, make_account):
    from groups.models import Group

    gone = make_account(name="gone")
    group = make_group("stale")
    Group.objects.filter(pk=group.pk).update(model_routing={"claude-*": [gone.pk]})
    url = reverse("admin:groups_group_change", args=[group.pk])
    html = client_admin.get(url).content.decode()
    assert f'value="{gone.pk}" checked> #{gone.pk} (not in this group)</label>' in html
    response = client_admin.post(url, _group_post(name="stale", **{
        "model_routing-0-0": "claude-*", "model_routing-0-1": [str(gone.pk)]}))
    assert _errors(response, "model_routing") == [f"Row 1: Unknown account (not in this group): {gone.pk}."]


def test_editors_and_their_errors_in_chinese(client_admin, make_group, make_account):
    from groups.models import GroupAccount

    group = make_group("zh")
    GroupAccount.objects.create(group=group, account=make_account(name="m"))
    url = reverse("admin:groups_group_change", args=[group.pk])
    html = client_admin.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "模型模式（可以 * 结尾）" in html and "优先使用的账号" in html and "添加路由" in html
    response = client_admin.post(url, _group_post(name="zh", **{"model_routing-0-0": "a*b"}),
                                 HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert _errors(response, "model_routing") == [
        "第 1 行：“*” 只能出现在模式末尾（前缀，例如 claude-*）。", "第 1 行：请为 “a*b” 至少选择一个账号。",
    ]
    account_form = client_admin.get(reverse("admin:accounts_account_add"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "请求的模型（可以 * 结尾）" in account_form.content.decode() and "添加映射" in account_form.content.decode()
