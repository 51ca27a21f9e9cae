"""GET /healthz: 200 when the database (and Redis, when configured) answer, 503 when one does not."""

import socket

import pytest
from django.db import connection

import core.redis


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def fresh_redis_clients(monkeypatch):
    """The view's Redis client is cached per event loop; start without one so settings changes apply."""
    monkeypatch.setattr(core.redis, "_clients", {})


@pytest.mark.django_db
def test_healthy(client, fresh_redis_clients, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert ("redis" in body) == bool(settings.REDIS_URL)


@pytest.mark.django_db
def test_redis_unreachable_is_503(client, fresh_redis_clients, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "redis": "down"}


@pytest.mark.django_db(transaction=True)
def test_database_unreachable_is_503(client, fresh_redis_clients, tmp_path):
    saved = {key: connection.settings_dict[key] for key in ("NAME", "PORT", "OPTIONS")}
    connection.close()
    if connection.vendor == "postgresql":
        connection.close_pool()
        connection.settings_dict["PORT"] = closed_port()
        options = dict(saved["OPTIONS"])
        options["pool"] = {**options.get("pool", {}), "min_size": 0, "timeout": 1}
        connection.settings_dict["OPTIONS"] = options
    else:
        connection.settings_dict["NAME"] = str(tmp_path / "no-such-dir" / "db.sqlite3")
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        if connection.vendor == "postgresql":
            connection.close_pool()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json()["database"] == "down" and response.json()["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200  # the connection works again afterwards
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
