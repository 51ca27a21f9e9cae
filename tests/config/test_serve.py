"""What `make run` does, from a fresh data directory: migrate, ensure an admin, serve on HOST/PORT."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(*args, env, **kwargs):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          **kwargs)


@pytest.fixture
def fresh_env(tmp_path):
    dropped = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CREDENTIALS_KEY")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["DATA_DIR"] = str(tmp_path)
    return env


def test_ensure_admin_prints_the_password_on_the_first_run_only(fresh_env):
    assert manage("migrate", "-v0", env=fresh_env, check=True).returncode == 0
    first = manage("ensure_admin", env=fresh_env, check=True)
    assert "admin@subrelay.local" in first.stdout and "/" in first.stdout
    assert manage("ensure_admin", env=fresh_env, check=True).stdout == ""


def test_serve_answers_the_admin_login_with_its_styles(fresh_env):
    manage("migrate", "-v0", env=fresh_env, check=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port)], cwd=ROOT, env=fresh_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        body = None
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(server.stderr.read().decode())
                time.sleep(0.2)
        assert body is not None and 'name="username"' in body
        stylesheet = next(part.split('"')[0] for part in body.split('href="') if ".css" in part.split('"')[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{stylesheet}", timeout=5) as resp:
            assert resp.status == 200 and "css" in resp.headers["Content-Type"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
