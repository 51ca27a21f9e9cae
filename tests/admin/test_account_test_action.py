"""The account "Test" action (issue 9): on the change page and in the list, one minimal request through
the account's upstream (gateway.probe) against the real fake Bedrock server, and a plain result message."""

import pytest
from django.urls import reverse

from tests.admin.test_secrets import _account_post
from tests.fakes.bedrock import ACCESS_KEY_ID, API_KEY, SECRET_ACCESS_KEY

pytestmark = pytest.mark.django_db


def _messages(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def _sigv4(make_account, **fields):
    fields = {"type": "bedrock", "bedrock_auth_mode": "sigv4", "aws_access_key_id": ACCESS_KEY_ID,
              "aws_secret_access_key": SECRET_ACCESS_KEY, "aws_region": "us-east-1", **fields}
    return make_account(**fields)


def test_the_change_page_button_tests_the_account(client_admin, bedrock_fake, make_account):
    account = _sigv4(make_account, name="br-ok")
    change = reverse("admin:accounts_account_change", args=[account.pk])
    url = reverse("admin:accounts_account_test_detail", args=[account.pk])
    assert url.encode() in client_admin.get(change).content  # the button is on the page
    response = client_admin.get(url, follow=True)
    assert response.redirect_chain[-1][0] == change
    [(level, text)] = _messages(response)
    assert level == "success" and text.startswith("“br-ok” works: OK: claude-sonnet-4-5 answered in")
    assert bedrock_fake.requests[-1].auth == "sigv4"


def test_a_refused_signature_is_said_plainly(client_admin, bedrock_fake, make_account):
    account = _sigv4(make_account, name="br-wrong", aws_secret_access_key="not-the-secret")
    response = client_admin.get(reverse("admin:accounts_account_test_row", args=[account.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:accounts_account_changelist")
    [(level, text)] = _messages(response)
    assert level == "error"
    assert text.startswith("“br-wrong” failed: the upstream refused access (403): UnrecognizedClientException")


def test_the_list_action_tests_every_selected_account(client_admin, bedrock_fake, make_account):
    good = make_account(name="br-key", type="bedrock", bedrock_auth_mode="apikey", api_key=API_KEY)
    bad = make_account(name="br-badkey", type="bedrock", bedrock_auth_mode="apikey", api_key="ABSK-wrong")
    response = client_admin.post(reverse("admin:accounts_account_changelist"), {
        "action": "test_selected", "_selected_action": [good.pk, bad.pk],
    }, follow=True)
    found = dict((text.split("”")[0].lstrip("“"), (level, text)) for level, text in _messages(response))
    assert found["br-key"][0] == "success" and "works: OK" in found["br-key"][1]
    assert found["br-badkey"][0] == "error" and "failed: the upstream refused" in found["br-badkey"][1]
    assert {r.auth for r in bedrock_fake.requests} == {"apikey"}


def test_the_bedrock_form_has_auth_radio_region_select_and_pool_mode(client_admin):
    html = client_admin.get(reverse("admin:accounts_account_add")).content.decode()
    assert 'type="radio" name="bedrock_auth_mode" value="sigv4"' in html
    assert 'type="radio" name="bedrock_auth_mode" value="apikey"' in html
    assert '<option value="eu-west-1">eu-west-1 (Ireland)</option>' in html
    for name in ("aws_force_global", "pool_mode", "pool_mode_retry_count"):
        assert f'name="{name}"' in html


def test_a_bedrock_account_is_saved_from_the_form(client_admin, bedrock_fake):
    from accounts.models import Account

    data = _account_post(name="br-form", type="bedrock", bedrock_auth_mode="apikey", api_key=API_KEY,
                         aws_region="eu-west-1", aws_force_global="on", pool_mode="on", pool_mode_retry_count="5")
    response = client_admin.post(reverse("admin:accounts_account_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    account = Account.objects.get(name="br-form")
    assert (account.aws_region, account.aws_force_global, account.pool_mode, account.pool_mode_retry_count) == (
        "eu-west-1", True, True, 5)
    response = client_admin.get(reverse("admin:accounts_account_test_row", args=[account.pk]), follow=True)
    level, text = _messages(response)[-1]  # after the "was added" message
    assert level == "success", text
    assert bedrock_fake.requests[-1].path.startswith("/model/global.anthropic.")  # force-global was applied


def test_a_region_nobody_lists_is_refused_but_a_stored_one_is_kept(client_admin, make_account):
    response = client_admin.post(reverse("admin:accounts_account_add"), _account_post(
        name="br-mars", type="bedrock", bedrock_auth_mode="apikey", api_key=API_KEY, aws_region="mars-north-1"))
    assert response.status_code == 200 and "aws_region" in response.context["adminform"].form.errors
    odd = make_account(name="br-odd", type="bedrock", bedrock_auth_mode="apikey", api_key=API_KEY,
                       aws_region="il-central-1")
    html = client_admin.get(reverse("admin:accounts_account_change", args=[odd.pk])).content.decode()
    assert '<option value="il-central-1" selected>il-central-1</option>' in html


def test_sigv4_mode_asks_for_its_keys(client_admin):
    response = client_admin.post(reverse("admin:accounts_account_add"), _account_post(
        name="br-nokeys", type="bedrock", bedrock_auth_mode="sigv4", aws_access_key_id=""))
    errors = response.context["adminform"].form.errors
    assert errors["aws_access_key_id"] == ["Required for SigV4 signing."]
    assert errors["aws_secret_access_key"] == ["Required for SigV4 signing."]
