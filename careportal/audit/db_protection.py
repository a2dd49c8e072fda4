"""Database-level protection of the audit tables, beside the models' own refusal (AppendOnlyError).

- Triggers (installed by migration 0004) refuse UPDATE, DELETE and TRUNCATE on the audit tables, whoever asks,
  table owner included: on PostgreSQL a statement-level trigger for each; on SQLite a row trigger for UPDATE and
  for DELETE (SQLite has no TRUNCATE; its DELETE-without-WHERE shortcut is off on a table with triggers). They stop
  mistakes: a stray UPDATE in psql, a bulk operation that bypasses the ORM's refusal. The owner of a table can drop
  its triggers, so against a malicious owner the hash chain (careportal/audit/chain.py) is the protection: it does
  not prevent a change, it makes one visible.
- On PostgreSQL, a least-privilege role for the application (`manage.py db_app_role`): SELECT and INSERT only on
  the audit tables, so that the web processes, workers and scheduler cannot change the log even by dropping a
  trigger (only the owner can), and full data access elsewhere. Migrations run as the owner.

The SQL of migration 0004 is here so that the tests' flush (tests/dbflush/) and `db_app_role` share it. Do not edit
it in place: a change is a new migration.
"""

AUDIT_TABLES = ("audit_accessevent", "audit_auditseal")

PG_FUNCTION = "careportal_audit_append_only"

PG_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'careportal: % on % refused: the audit tables are append-only', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    *[
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
        for table in AUDIT_TABLES
    ],
]
PG_UNINSTALL = [
    *[f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in AUDIT_TABLES],
    f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()",
]

SQLITE_INSTALL = [
    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'careportal: {operation} on {table} refused: the audit tables are append-only'); END"
    for table in AUDIT_TABLES
    for operation in ("UPDATE", "DELETE")
]
SQLITE_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS {table}_no_{operation.lower()}"
    for table in AUDIT_TABLES
    for operation in ("UPDATE", "DELETE")
]


def install_sql(vendor: str) -> list[str]:
    return {"postgresql": PG_INSTALL, "sqlite": SQLITE_INSTALL}.get(vendor, [])


def uninstall_sql(vendor: str) -> list[str]:
    return {"postgresql": PG_UNINSTALL, "sqlite": SQLITE_UNINSTALL}.get(vendor, [])


def app_role_sql(*, role: str, table_names: list[str], database: str) -> list[str]:
    """GRANT/REVOKE statements giving `role` what the application needs: everything on every table but the audit
    tables, SELECT and INSERT only on those. Idempotent; run again after every `migrate` (new tables)."""
    quoted_role = _identifier(role)
    statements = [
        f"GRANT CONNECT ON DATABASE {_identifier(database)} TO {quoted_role}",
        f"GRANT USAGE ON SCHEMA public TO {quoted_role}",
    ]
    for table in sorted(table_names):
        if table in AUDIT_TABLES:
            statements.append(f"REVOKE ALL ON TABLE {_identifier(table)} FROM {quoted_role}")
            statements.append(f"GRANT SELECT, INSERT ON TABLE {_identifier(table)} TO {quoted_role}")
        else:
            statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {_identifier(table)} TO {quoted_role}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted_role}")
    return statements


def _identifier(name: str) -> str:
    """A PostgreSQL identifier, quoted. Role and table names come from the operator and the schema, never a user."""
    return '"' + name.replace('"', '""') + '"'
