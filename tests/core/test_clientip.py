"""The one client-IP resolver: forwarding headers count only from TRUSTED_PROXIES."""

import pytest

from core.clientip import client_ip, parse_networks

SPOOF = {"cf-connecting-ip": "9.9.9.9", "x-real-ip": "8.8.8.8", "x-forwarded-for": "7.7.7.7"}


def test_without_trusted_proxies_headers_are_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip("203.0.113.5", SPOOF) == "203.0.113.5"


def test_an_untrusted_peer_cannot_set_its_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip("203.0.113.5", SPOOF) == "203.0.113.5"


@pytest.mark.parametrize("headers, expected", [
    (SPOOF, "9.9.9.9"),
    ({"x-real-ip": "8.8.8.8", "x-forwarded-for": "7.7.7.7"}, "8.8.8.8"),
    ({"x-forwarded-for": "7.7.7.7"}, "7.7.7.7"),
    ({"x-forwarded-for": "1.1.1.1, 7.7.7.7, 10.0.0.2"}, "7.7.7.7"),  # right to left, skipping trusted hops
    ({"x-forwarded-for": "10.0.0.3, 10.0.0.2"}, "10.0.0.3"),
    ({"cf-connecting-ip": "not-an-ip", "x-forwarded-for": "garbage, 7.7.7.7:4431"}, "7.7.7.7"),
    ({"x-forwarded-for": "[2001:db8::1]:443"}, "2001:db8::1"),
    ({}, "10.0.0.1"),
])
def test_a_trusted_proxy_is_believed(settings, headers, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "::1"]
    assert client_ip("10.0.0.1", headers) == expected


def test_django_request_headers_work(settings, rf):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    request = rf.get("/", headers={"X-Forwarded-For": "198.51.100.7"}, REMOTE_ADDR="127.0.0.1")
    assert client_ip(request.META["REMOTE_ADDR"], request.headers) == "198.51.100.7"


def test_a_bad_entry_is_refused_with_its_name():
    with pytest.raises(ValueError, match="'10.0.0.0/33'"):
        parse_networks("127.0.0.1, 10.0.0.0/33")


def test_settings_refuse_a_bad_list():
    import os
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=Path(__file__).resolve().parents[2], capture_output=True,
        text=True, timeout=120, env={**os.environ, "TRUSTED_PROXIES": "10.0.0.0/8,nonsense"},
    )
    assert result.returncode != 0 and "TRUSTED_PROXIES: 'nonsense'" in result.stderr
