"""A live subrelay for end-to-end tests, and the data it needs.

`LiveServer` serves `config.asgi:application` with uvicorn on a free 127.0.0.1 port in a background
thread of the test process: same settings, same test database (use
`@pytest.mark.django_db(transaction=True)` so the server sees the test's rows). Fixtures in
tests/conftest.py: `gateway_server` (session) and `gateway_url` (per test; waits for pending charges
when the test ends). `make_setup` creates a user, a group, account(s) pointing at a fake upstream and
an API key.
"""

import socket
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import uvicorn


class LiveServer:
    def __init__(self):
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "LiveServer":
        from config.asgi import application

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        from config.server import uvicorn_options

        options = {**uvicorn_options(), "loop": "asyncio", "timeout_keep_alive": 30}
        config = uvicorn.Config(application, **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="subrelay-live")
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self):
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(20)
            self._server = None


@dataclass
class Setup:
    user: object
    group: object
    accounts: list
    key: object
    raw_key: str
    extra: dict = field(default_factory=dict)

    @property
    def account(self):
        return self.accounts[0]

    def refresh(self):
        self.user.refresh_from_db()
        self.key.refresh_from_db()
        for account in self.accounts:
            account.refresh_from_db()
        return self


def make_setup(base_url: str, *, balance="100", group_rate="1", accounts=1, account_type="apikey",
               account_fields=None, key_fields=None, user_fields=None, group_fields=None,
               platform="anthropic") -> Setup:
    """A user with `balance`, a group of `platform`, `accounts` upstream accounts (type, extra fields) of
    that platform on base_url, and an active key in the group. Unlimited concurrency unless the fields say
    otherwise."""
    from accounts.models import Account
    from apikeys.models import ApiKey
    from groups.models import Group, GroupAccount
    from users.models import User

    tag = f"{time.monotonic_ns()}"
    user = User.objects.create_user(f"user{tag}@example.com", None,
                                    **{"balance": Decimal(balance), "concurrency": 0, **(user_fields or {})})
    group = Group.objects.create(name=f"group{tag}", rate_multiplier=Decimal(group_rate),
                                 **{"platform": platform, **(group_fields or {})})
    created = []
    for index in range(accounts):
        account = Account.objects.create(**{
            "name": f"account{tag}-{index}", "platform": platform, "type": account_type, "base_url": base_url,
            "api_key": f"sk-ant-upstream-{index}", "access_token": f"oauth-access-{index}", "concurrency": 0,
            **(account_fields or {}),
        })
        GroupAccount.objects.create(group=group, account=account, sort_value=index)
        created.append(account)
    key, raw = ApiKey.objects.create_key(user=user, name="test", group=group, **(key_fields or {}))
    return Setup(user=user, group=group, accounts=created, key=key, raw_key=raw)


def slot_count(key: str) -> int:
    """Slots held right now for "user:{id}" / "account:{id}" in the live server's limiter."""
    from django.conf import settings

    from core.store import get_store
    from core.store.redis import slot_key

    if settings.REDIS_URL:
        import redis

        return redis.Redis.from_url(settings.REDIS_URL).zcard(slot_key(key))
    return len(get_store()._holders.get(key, ()))


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll until predicate() is truthy (state changed by the live server's threads); its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class ServeProcess:
    """`manage.py serve` in a process of its own, on the test database (SQLite file or PostgreSQL) and the
    test Redis: for tests that need more than one gateway, or one that can be killed."""

    def __init__(self, **env):
        import os
        import subprocess
        import sys
        from pathlib import Path

        from django.conf import settings
        from django.db import connection

        db = connection.settings_dict
        if connection.vendor == "sqlite":
            database_url = f"sqlite:///{db['NAME']}"
        else:
            database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": settings.REDIS_URL or "",
                    "DATA_DIR": str(settings.DATA_DIR), "LOG_LEVEL": "WARNING", **env}
        if not settings.REDIS_URL:
            self.env.pop("REDIS_URL")
        self.root, self.python, self.subprocess = Path(__file__).resolve().parents[1], sys.executable, subprocess
        self.process = None
        self.url = ""

    def start(self, timeout: float = 30) -> "ServeProcess":
        import httpx

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{port}"
        self.process = self.subprocess.Popen(
            [self.python, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=self.root,
            env=self.env, stdout=self.subprocess.DEVNULL, stderr=self.subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {self.process.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)

    def kill(self):
        import signal

        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
