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


class DropForeignKeyIndex(migrations.AlterField):
    """A foreign key's AlterField to `db_index=False` that drops the column's own index and nothing else. Django's
    AlterField would drop the FOREIGN KEY constraint and add it back (PostgreSQL then checks every row again, under
    a lock) and rebuild the whole table on SQLite: minutes on a trust's million reports, for one DROP INDEX. Give
    it the field exactly as the model now declares it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            column = model._meta.get_field(self.name).column
            # The name Django gave the index when it made the column (BaseDatabaseSchemaEditor._field_indexes_sql).
            name = schema_editor._create_index_name(model._meta.db_table, [column])
            schema_editor.execute(schema_editor._delete_index_sql(model, name))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[model._meta.get_field(self.name)]))
