"""Production settings: `check --deploy` is clean, missing essentials stop start-up, static files build.

Each test starts `manage.py` in a fresh process with only the environment it sets, as a deployment would.
"""

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings


def production_environment(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env: dict[str, str | None] = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "careportal.config.settings.base",
        "CAREPORTAL_ENV": "production",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(64)),
        "ALLOWED_HOSTS": "portal.example.nhs.uk",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        **overrides,
    }
    return {key: value for key, value in env.items() if value is not None}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a safety net for a loaded machine, not a timing assertion
    )


def test_deploy_check_reports_nothing_in_production(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": None}, "Set SECRET_KEY: production refuses to start without one"),
        ({"SECRET_KEY": ""}, "Set SECRET_KEY: production refuses to start without one"),
        ({"ALLOWED_HOSTS": None}, "Set ALLOWED_HOSTS: production refuses to start without it"),
        ({"DATABASE_URL": None}, "Set DATABASE_URL: production refuses to start without one"),
        ({"DEBUG": "1"}, "DEBUG cannot be on in production"),
        ({"CAREPORTAL_ENV": "staging"}, "CAREPORTAL_ENV must be development, production or test"),
    ],
)
def test_production_refuses_to_start_without_its_essentials(tmp_path, overrides, message):
    result = manage("check", env=production_environment(tmp_path, **overrides))
    assert result.returncode != 0
    assert f"django.core.exceptions.ImproperlyConfigured: {message}" in result.stderr


def test_production_redirects_to_https_except_the_health_check(tmp_path):
    script = (
        "from django.test import Client\n"
        "client = Client(HTTP_HOST='portal.example.nhs.uk')\n"
        "page, health = client.get('/'), client.get('/health/?format=json')\n"
        "print(page.status_code, page['Location'], health.status_code)\n"
        "print(client.get('/health/?format=json', secure=True)['Strict-Transport-Security'])\n"
    )
    result = manage("shell", "--no-imports", "-c", script, env=production_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    redirect, hsts = result.stdout.splitlines()[-2:]
    page_status, location, health_status = redirect.split()
    assert (page_status, location) == ("301", "https://portal.example.nhs.uk/")
    # Not redirected: answered (500 here only because this fresh database has no tables yet).
    assert health_status in {"200", "500"}
    assert hsts == "max-age=31536000; includeSubDomains; preload"


def test_development_works_over_plain_http(tmp_path):
    env = production_environment(tmp_path, CAREPORTAL_ENV="development", SECRET_KEY=None, ALLOWED_HOSTS=None)
    script = (
        "from django.conf import settings as s\n"
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)\n"
    )
    result = manage("shell", "--no-imports", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False", "False", "0"]


@pytest.mark.database_independent
def test_collectstatic_in_production_hashes_files_and_rewrites_module_imports(tmp_path):
    static_root = tmp_path / "static"
    result = manage("collectstatic", "--noinput", env=production_environment(tmp_path, STATIC_ROOT=str(static_root)))
    assert result.returncode == 0, result.stderr

    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    app = manifest["careportal/app.mjs"]
    nhsuk = manifest["nhsuk/nhsuk-frontend.min.js"]
    assert app != "careportal/app.mjs"
    assert nhsuk != "nhsuk/nhsuk-frontend.min.js"
    module = (static_root / app).read_text()
    # app.mjs imports "../nhsuk/nhsuk-frontend.min.js": it must now import the hashed file, which must exist.
    assert f'from "../{nhsuk}"' in module
    assert "nhsuk-frontend.min.js" not in module
    assert (static_root / nhsuk).is_file()
    assert (static_root / f"{app}.gz").is_file()
    assert (static_root / manifest["careportal/careportal.css"]).is_file()


def test_templates_read_only_the_settings_they_are_given():
    from django.template import engines

    env = engines["jinja2"].env
    assert env.from_string("{{ settings.CAREPORTAL_HELPDESK_PHONE }}").render() == settings.CAREPORTAL_HELPDESK_PHONE
    with pytest.raises(RuntimeError, match="may not read the setting SECRET_KEY"):
        env.from_string("{{ settings.SECRET_KEY }}").render()
    with pytest.raises(RuntimeError, match="DATABASES"):
        env.from_string("{{ settings.DATABASES }}").render()


@pytest.mark.parametrize(("value", "threshold"), [(None, 5), ("true", 5), ("false", None)])
def test_postgresql_prepares_server_bound_statements_unless_turned_off(tmp_path, value, threshold):
    env = production_environment(
        tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused", DATABASE_PREPARED_STATEMENTS=value
    )
    script = (
        "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))"
    )
    result = manage("shell", "--no-imports", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(threshold)
