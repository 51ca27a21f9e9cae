"""Paths under /static/ that leave the static directories are "not found", never a server error."""

import socket

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def raw_get(url: str, path: str) -> int:
    """The status of GET `path` sent byte for byte (HTTP clients would normalise the dots away)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head = sock.recv(4096).decode("latin-1")
    return int(head.split(" ", 2)[1])


@pytest.mark.parametrize("path", [
    "/static/../../etc/passwd", "/static/..", "/static/../", "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/unfold/../../../../etc/passwd", "/static/admin/..%2f..%2f..%2fsettings.py",
])
def test_paths_out_of_the_static_directories_are_404(gateway_url, path):
    assert raw_get(gateway_url, path) == 404


def test_static_files_are_still_served(gateway_url):
    assert raw_get(gateway_url, "/static/admin/css/base.css") == 200
