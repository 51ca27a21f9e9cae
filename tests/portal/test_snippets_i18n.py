"""/portal/snippets/: the SDK, Claude Code and curl snippets with the portal's address and the chosen key;
the portal in English and Simplified Chinese, switched from its header."""

import html

import pytest

pytestmark = pytest.mark.django_db


def test_snippets_name_the_chosen_key_and_the_portal_address(person, make_key_for, make_group, signed_in):
    first = make_key_for(person, name="first")
    chosen = make_key_for(person, name="chosen", group=make_group("gpt", platform="openai"))
    client = signed_in(person)
    page = html.unescape(client.get(f"/portal/snippets/?key={first.pk}", HTTP_HOST="relay.example.com").content
                         .decode())
    token = f"<{first.prefix}…>"
    assert f'base_url="http://relay.example.com",\n    api_key="{token}",' in page
    assert f"export ANTHROPIC_AUTH_TOKEN={token}" in page and "curl http://relay.example.com/v1/messages" in page
    page = html.unescape(client.get(f"/portal/snippets/?key={chosen.pk}").content.decode())
    token = f"<{chosen.prefix}…>"
    assert f'OpenAI(\n    base_url="http://testserver/v1",\n    api_key="{token}",' in page
    assert "curl http://testserver/v1/chat/completions" in page and f"Authorization: Bearer {token}" in page
    assert 'model="gpt-4o-mini"' in page


def test_without_a_key_the_page_says_how_to_get_one(person, signed_in):
    page = signed_in(person).get("/portal/snippets/").content.decode()
    assert "Create a key first" in page


def test_the_newest_key_is_chosen_by_default(person, make_key_for, signed_in):
    make_key_for(person, name="old")
    new = make_key_for(person, name="new")
    assert signed_in(person).get("/portal/snippets/").context["key"] == new


def test_the_language_switch_turns_the_portal_chinese(person, signed_in):
    client = signed_in(person)
    english = client.get("/portal/keys/").content.decode()
    assert "API keys" in english and 'name="language" value="zh-hans"' in english
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/portal/keys/"})
    assert (response.status_code, response["Location"]) == (302, "/portal/keys/")
    chinese = client.get("/portal/keys/").content.decode()
    assert 'lang="zh-hans"' in chinese
    for text in ("新建密钥", "用量", "余额", "快速开始", "退出"):
        assert text in chinese, text
    assert "New key" not in chinese


@pytest.mark.parametrize("path", ["/portal/login/"])
def test_the_sign_in_page_is_chinese_too(client, path):
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": path})
    page = client.get(path).content.decode()
    assert "登录" in page and "Sign in" not in page
