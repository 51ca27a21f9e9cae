"""/portal/keys/: list, create (the REST API's validation and group rules), secret shown once, revoke,
reset; only the user's own keys."""

import html
import re
from decimal import Decimal

import pytest

from apikeys.models import ApiKey, hash_key

pytestmark = pytest.mark.django_db
NEW = "/portal/keys/new/"


def create(client, group, **fields):
    data = {"name": "laptop", "group": str(group.pk), "quota": "", "expires_in_days": "", "ip_whitelist": "",
            "ip_blacklist": "", **fields}
    return client.post(NEW, data)


def secret_of(response) -> str:
    match = re.search(r'data-testid="key-secret">([^<]+)<', response.content.decode())
    return match.group(1)


def test_the_list_shows_own_keys_only(person, other, make_key_for, signed_in):
    mine = make_key_for(person, name="mine")
    theirs = make_key_for(other, name="theirs")
    page = signed_in(person).get("/portal/keys/").content.decode()
    assert mine.masked in page and f'data-key-id="{mine.pk}"' in page
    assert theirs.masked not in page and "theirs" not in page


def test_create_with_every_field(person, group, signed_in):
    client = signed_in(person)
    assert client.get(NEW).status_code == 200
    response = create(client, group, quota="12.5", expires_in_days="30", ip_whitelist="10.0.0.0/8\n192.168.1.1",
                      ip_blacklist="10.1.2.3")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(user=person)
    secret = secret_of(response)
    assert key.key_hash == hash_key(secret)
    assert (key.name, key.group, key.quota) == ("laptop", group, Decimal("12.5"))
    assert key.ip_whitelist == ["10.0.0.0/8", "192.168.1.1"] and key.ip_blacklist == ["10.1.2.3"]
    assert key.expires_at is not None
    # the secret is shown this once: the list shows it masked
    assert secret not in client.get("/portal/keys/").content.decode()


def test_the_snippets_of_a_new_key_carry_its_secret_and_the_portal_address(person, group, signed_in):
    response = create(signed_in(person), group)
    page, secret = html.unescape(response.content.decode()), secret_of(response)
    assert f'anthropic.Anthropic(\n    base_url="http://testserver",\n    api_key="{secret}",\n)' in page
    assert f'OpenAI(\n    base_url="http://testserver/v1",\n    api_key="{secret}",\n)' in page
    assert "export ANTHROPIC_BASE_URL=http://testserver" in page
    assert f"export ANTHROPIC_AUTH_TOKEN={secret}" in page
    assert "curl http://testserver/v1/messages" in page and f"x-api-key: {secret}" in page
    assert page.count('data-copy-target="') == 5  # the secret and each snippet


@pytest.mark.parametrize("fields, field, message", [
    ({"quota": "-1"}, "quota", "quota"),
    ({"quota": "abc"}, "quota", "must be a finite number"),
    ({"quota": "NaN"}, "quota", "must be a finite number"),
    ({"expires_in_days": "0"}, "expires_in_days", "must be &gt; 0"),
    ({"expires_in_days": "x"}, "expires_in_days", "integer"),
    ({"expires_in_days": "99999999"}, "expires_in_days", "36500"),
    ({"ip_whitelist": "not-an-ip"}, "ip_whitelist", "is not an IP address or CIDR range"),
    ({"ip_blacklist": "10.0.0.0/99"}, "ip_blacklist", "is not an IP address or CIDR range"),
    ({"name": "x" * 101}, "name", "100"),
])
def test_bad_values_are_field_errors(person, group, signed_in, fields, field, message):
    response = create(signed_in(person), group, **fields)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in response.content.decode()
    assert not ApiKey.objects.filter(user=person).exists()


def test_only_groups_the_user_may_bind_are_offered(person, make_group, signed_in):
    open_group = make_group("open")
    exclusive = make_group("vip", is_exclusive=True)
    inactive = make_group("old", status="inactive")
    client = signed_in(person)
    choices = [value for value, _label in client.get(NEW).context["form"].fields["group"].choices]
    assert choices == [str(open_group.pk)]
    for group in (exclusive, inactive):
        response = create(client, group)
        assert response.status_code == 400 and "group" in response.context["form"].errors
    person.allowed_groups.add(exclusive)
    assert create(client, exclusive).status_code == 200


def test_no_group_open_says_so(person, signed_in):
    page = signed_in(person).get(NEW).content.decode()
    assert "No group is open to you yet" in page


def test_revoke_deletes_the_key(person, make_key_for, signed_in):
    key = make_key_for(person)
    response = signed_in(person).post(f"/portal/keys/{key.pk}/revoke/")
    assert (response.status_code, response["Location"]) == (302, "/portal/keys/")
    assert not ApiKey.objects.filter(pk=key.pk).exists()


def test_reset_gives_a_new_secret_and_keeps_the_key(person, make_key_for, signed_in):
    key = make_key_for(person, quota=Decimal("5"))
    old_hash = key.key_hash
    response = signed_in(person).post(f"/portal/keys/{key.pk}/reset/")
    assert response.status_code == 200
    secret = secret_of(response)
    key.refresh_from_db()
    assert key.key_hash == hash_key(secret) != old_hash
    assert key.prefix == secret[:10] and key.quota == Decimal("5")
    assert not ApiKey.objects.filter(key_hash=old_hash).exists()


def test_actions_on_another_users_key_are_404(person, other, make_key_for, signed_in):
    theirs = make_key_for(other)
    client = signed_in(person)
    assert client.post(f"/portal/keys/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/portal/keys/{theirs.pk}/reset/").status_code == 404
    assert client.post("/portal/keys/999999/reset/").status_code == 404
    theirs.refresh_from_db()
    assert ApiKey.objects.get(pk=theirs.pk).key_hash == theirs.key_hash


def test_actions_need_a_post(person, make_key_for, signed_in):
    key = make_key_for(person)
    client = signed_in(person)
    assert client.get(f"/portal/keys/{key.pk}/revoke/").status_code == 405
    assert client.get(f"/portal/keys/{key.pk}/reset/").status_code == 405
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_spend_windows_are_set_and_shown(person, group, signed_in):
    client = signed_in(person)
    response = create(client, group, rate_limit_5h="1.5", rate_limit_1d="10", rate_limit_7d="")
    assert response.status_code == 200
    key = ApiKey.objects.get(user=person)
    assert (key.rate_limit_5h, key.rate_limit_1d, key.rate_limit_7d) == (Decimal("1.5"), Decimal("10"), Decimal(0))
    page = client.get("/portal/keys/").content.decode()
    assert 'data-window="5h"' in page and 'data-window="1d"' in page and 'data-window="7d"' not in page
    assert "$0.00 / $1.50" in page


@pytest.mark.parametrize("value", ["-1", "abc", "Infinity"])
def test_bad_spend_windows_are_field_errors(person, group, signed_in, value):
    response = create(signed_in(person), group, rate_limit_1d=value)
    assert response.status_code == 400 and "rate_limit_1d" in response.context["form"].errors
