"""The OpenAPI schema tells the truth: schemathesis (`st run`) against a live server, as an admin (the
admin API key) and as a user (a login token), finds no server error and no answer whose status,
content type or body the schema does not document."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
ST = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"


def schemathesis(url: str, header: str, tmp_path: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ST, "run", f"{url}/api/schema/?format=json", "--url", url, "-H", header, "--checks", CHECKS,
         "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"), "--seed", "1010",
         "--phases", "examples,coverage,fuzzing", "--generation-database", "none", "--workers", "2",
         "--request-timeout", "30", "--no-color", "--report-dir", str(tmp_path), *extra],
        capture_output=True, text=True, timeout=1500, stdin=subprocess.DEVNULL,
        cwd=tmp_path,  # its cache directory goes there, not into the checkout
    )


@pytest.fixture
def seeded(make_group, make_account, settings):
    """Objects for the ids schemathesis guesses, and login limits that do not get in the way."""
    from apikeys.models import AdminApiKey, ApiKey
    from users.models import User

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    group = make_group("schema-group")
    make_account(name="schema-account")
    user = User.objects.create_user("schema-user@example.com", "pw-schema-1234", balance=5)
    ApiKey.objects.create_key(user=user, name="schema-key", group=group)
    response = Client().post("/api/v1/auth/login", {"email": user.email, "password": "pw-schema-1234"},
                             content_type="application/json")
    return {"admin": f"x-api-key: {AdminApiKey.current().secret}",
            "user": f"Authorization: Bearer {response.json()['data']['access_token']}"}


@pytest.mark.parametrize("who", ["user", "admin"])
def test_schemathesis_finds_nothing(gateway_url, seeded, who, tmp_path):
    result = schemathesis(gateway_url, seeded[who], tmp_path)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "Tested:" in result.stdout and "Failures:" not in result.stdout, result.stdout[-4000:]
