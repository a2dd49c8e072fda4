"""The cache that holds rate-limit and attempt counters is shared by every process in production: a table in the
database by default (created by `migrate`), or Redis. The counting tests run `manage.py` in fresh processes, as a
deployment would, and count one attempt in each: the second process must see the first one's count.
"""

import os
import secrets
import socket
from pathlib import Path

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection

from tests.core.test_settings import manage, production_environment

COUNT_ONE = (
    "from django.conf import settings\n"
    "from careportal.core.throttle import attempt_record\n"
    "print(settings.CACHES['default']['BACKEND'], attempt_record({key!r}, window_seconds=60))\n"
)


def count_in_a_new_process(key: str, env: dict[str, str]) -> list[str]:
    result = manage("shell", "--no-imports", "-c", COUNT_ONE.format(key=key), env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-2:]


def test_production_counts_in_a_database_table_shared_by_every_process(tmp_path: Path) -> None:
    env = production_environment(tmp_path)
    created = manage("createcachetable", env=env)
    assert created.returncode == 0, created.stderr
    key = f"test:{secrets.token_hex(4)}"
    assert count_in_a_new_process(key, env) == ["django.core.cache.backends.db.DatabaseCache", "1"]
    assert count_in_a_new_process(key, env) == ["django.core.cache.backends.db.DatabaseCache", "2"]


@pytest.mark.django_db(transaction=True)
def test_migrate_creates_the_database_caches_table(settings) -> None:
    """An upgrade runs `migrate`; with the database cache, it creates the table too (careportal/core/apps.py), so
    that no separate step can be forgotten."""
    table = f"test_cache_{secrets.token_hex(3)}"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": table}}
    assert table not in connection.introspection.table_names()
    # What `migrate` does once it has applied the migrations.
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    try:
        assert table in connection.introspection.table_names()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}")


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_is_up() -> bool:
    host_port = redis_url().split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(
    not redis_is_up(), reason=f"Redis is not reachable at {redis_url()} (optional: set TEST_REDIS_URL to test it)"
)
def test_with_redis_every_process_counts_in_redis(tmp_path: Path) -> None:
    env = production_environment(tmp_path, CACHE_URL=redis_url())
    key = f"test:{secrets.token_hex(4)}"
    assert count_in_a_new_process(key, env) == ["django.core.cache.backends.redis.RedisCache", "1"]
    assert count_in_a_new_process(key, env) == ["django.core.cache.backends.redis.RedisCache", "2"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SESSION_STORE": "cache"}, "SESSION_STORE must be db or cached_db (it is 'cache')"),
        ({"TRUSTED_PROXY_COUNT": "-1"}, "TRUSTED_PROXY_COUNT must be 0 or more"),
    ],
)
def test_settings_for_several_processes_refuse_values_that_would_not_work(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    result = manage("check", env=production_environment(tmp_path, **overrides))
    assert result.returncode != 0
    assert f"django.core.exceptions.ImproperlyConfigured: {message}" in result.stderr


def test_sessions_can_also_be_kept_in_the_shared_cache(tmp_path: Path) -> None:
    env = production_environment(tmp_path, SESSION_STORE="cached_db")
    result = manage(
        "shell", "--no-imports", "-c", "from django.conf import settings; print(settings.SESSION_ENGINE)", env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "django.contrib.sessions.backends.cached_db"
