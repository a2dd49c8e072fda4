"""Triggers that refuse UPDATE, DELETE and TRUNCATE on the audit tables (careportal/audit/db_protection.py)."""

from django.db import migrations

from careportal.audit.db_protection import install_sql, uninstall_sql


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in install_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in uninstall_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_audit_seal")]

    operations = [migrations.RunPython(install, uninstall)]
