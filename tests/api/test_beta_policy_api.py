"""GET/PUT /api/v1/admin/settings/beta-policy (spec S3 checks 8-9)."""

import pytest

from accounts.models import BetaRule
from tests.api.conftest import data

pytestmark = pytest.mark.django_db
URL = "/api/v1/admin/settings/beta-policy"


def test_put_replaces_the_rules_in_order_and_get_reads_them(admin_api):
    rules = [
        {"beta_token": "context-1m-2025-08-07", "action": "filter", "scope": "oauth", "error_message": ""},
        {"beta_token": "x", "action": "block", "scope": "apikey", "error_message": "x is not for you"},
    ]
    assert data(admin_api.put(URL, {"rules": rules})) == {"rules": rules}
    assert data(admin_api.get(URL)) == {"rules": rules}
    data(admin_api.put(URL, {"rules": rules[1:]}))
    assert list(BetaRule.objects.values_list("beta_token", "position")) == [("x", 0)]


@pytest.mark.parametrize(("rule", "message"), [
    ({"beta_token": "x", "action": "block", "scope": "aws"}, "rule[0]: invalid scope"),  # S3 check 9
    ({"beta_token": "x", "action": "allow"}, "rule[0]: invalid action"),
    ({"beta_token": "  ", "action": "block"}, "rule[0]: beta_token is required"),
    ("x", "rule[0]: must be an object"),
])
def test_bad_rules_are_refused_naming_the_rule(admin_api, rule, message):
    BetaRule.objects.create(beta_token="kept", action="filter")
    status, body = admin_api.put(URL, {"rules": [rule]})
    assert status == 400 and body["message"] == message
    assert list(BetaRule.objects.values_list("beta_token", flat=True)) == ["kept"]  # nothing replaced


def test_rules_must_be_a_list(admin_api):
    status, body = admin_api.put(URL, {"rules": "x"})
    assert status == 400 and body["message"] == "rules: must be a list"


def test_only_admins(client):
    assert client.get(URL).status_code == 401
