"""/portal/login/: end users sign in with email and password, staff are sent to the admin, every page
needs a signed-in user, the form is CSRF-protected and throttled by the same rule as the admin's."""

import pytest
from django.test import Client

from tests.portal.conftest import PASSWORD, fresh_address

pytestmark = pytest.mark.django_db
LOGIN = "/portal/login/"


@pytest.fixture
def person(make_person):
    """A fresh email each time: the throttle's per-account counters outlive the test database in Redis."""
    return make_person()


PAGES = ["/portal/", "/portal/keys/", "/portal/keys/new/", "/portal/balance/", "/portal/usage/",
         "/portal/usage/export.csv", "/portal/usage/1/", "/portal/snippets/"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_visitors_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={path}"


def test_the_next_of_a_page_with_a_query_survives(client):
    response = client.get("/portal/usage/?key=3&days=30")
    assert response["Location"] == f"{LOGIN}?next=/portal/usage/%3Fkey%3D3%26days%3D30"


def test_sign_in_lands_on_the_keys_page(person):
    client = Client(REMOTE_ADDR=fresh_address())
    page = client.get(LOGIN)
    assert page.status_code == 200 and b'name="email"' in page.content and b"csrfmiddlewaretoken" in page.content
    response = client.post(LOGIN, {"email": person.email, "password": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/portal/keys/")
    keys = client.get("/portal/keys/")
    assert keys.status_code == 200 and person.email.encode() in keys.content


def test_next_is_followed_only_on_this_site(person):
    client = Client(REMOTE_ADDR=fresh_address())
    response = client.post(LOGIN, {"email": person.email, "password": PASSWORD, "next": "/portal/usage/"})
    assert response["Location"] == "/portal/usage/"
    client = Client(REMOTE_ADDR=fresh_address())
    response = client.post(LOGIN, {"email": person.email, "password": PASSWORD, "next": "https://evil.example/"})
    assert response["Location"] == "/portal/keys/"


def test_a_wrong_password_is_a_form_error(person):
    client = Client(REMOTE_ADDR=fresh_address())
    response = client.post(LOGIN, {"email": person.email, "password": "wrong"})
    assert response.status_code == 400
    assert "Wrong email or password." in response.content.decode()
    assert client.get("/portal/keys/").status_code == 302


def test_a_disabled_user_cannot_sign_in(make_person):
    user = make_person(status="disabled")
    response = Client(REMOTE_ADDR=fresh_address()).post(LOGIN, {"email": user.email, "password": PASSWORD})
    assert response.status_code == 400


def test_staff_are_sent_to_the_admin(django_user_model):
    admin = django_user_model.objects.create_superuser("root@example.com", PASSWORD)
    client = Client(REMOTE_ADDR=fresh_address())
    response = client.post(LOGIN, {"email": admin.email, "password": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/portal/keys/")["Location"] == "/admin/"


def test_the_form_is_csrf_protected(person):
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=fresh_address())
    assert client.post(LOGIN, {"email": person.email, "password": PASSWORD}).status_code == 403
    client.get(LOGIN)
    token = client.cookies["csrftoken"].value
    response = client.post(LOGIN, {"email": person.email, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_actions_are_csrf_protected(person, make_key_for):
    key = make_key_for(person)
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=fresh_address())
    client.force_login(person)
    assert client.post(f"/portal/keys/{key.pk}/revoke/").status_code == 403
    assert client.post("/portal/logout/").status_code == 403
    key.refresh_from_db()


def test_sign_in_is_throttled_per_address(person, settings):
    settings.API_LOGIN_RATE = "3/min"
    client = Client(REMOTE_ADDR=fresh_address())
    statuses = [client.post(LOGIN, {"email": person.email, "password": "wrong"}) for _ in range(4)]
    assert [r.status_code for r in statuses] == [400] * 4
    assert "Too many login attempts" in statuses[-1].content.decode()
    assert "Too many login attempts" not in statuses[-2].content.decode()
    # the right password from that address waits too
    response = client.post(LOGIN, {"email": person.email, "password": PASSWORD})
    assert response.status_code == 400 and "Too many login attempts" in response.content.decode()


def test_logout_is_a_post_and_ends_the_session(person, signed_in):
    client = signed_in(person)
    assert client.get("/portal/logout/").status_code == 405
    response = client.post("/portal/logout/")
    assert (response.status_code, response["Location"]) == (302, LOGIN)
    assert client.get("/portal/keys/").status_code == 302
