"""Migration operations shared by the apps' migrations."""

from django.db import migrations


class AddIndexOnPostgreSQL(migrations.AddIndex):
    """An index made on PostgreSQL only: SQLite refuses NULLS LAST in an index (and sorts NULLs last for DESC
    anyway), and these indexes exist for the order of large lists, which a SQLite trust never has. The model's
    state has the index on every database, so `makemigrations` stays quiet."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
