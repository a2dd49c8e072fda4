# Each foreign key below loses its own index: those naming a person (set on few rows) get a partial one instead,
# the report's patient and care team are served by indexes that lead with them (report_patient_idx,
# report_inbox_idx). DropForeignKeyIndex drops the index and nothing else.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from careportal.core.migration_operations import DropForeignKeyIndex


class Migration(migrations.Migration):
    dependencies = [
        ("hl7", "0006_ingest_ack_mode"),
        ("patients", "0005_careteam_sensitive_category"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        DropForeignKeyIndex(
            model_name="inboundmessage",
            name="replay_of",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="replays",
                to="hl7.inboundmessage",
            ),
        ),
        DropForeignKeyIndex(
            model_name="inboundmessage",
            name="resolved_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="inboundmessage",
            index=models.Index(
                condition=models.Q(("replay_of__isnull", False)), fields=["replay_of"], name="hl7_replay_of_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="inboundmessage",
            index=models.Index(
                condition=models.Q(("resolved_by__isnull", False)), fields=["resolved_by"], name="hl7_resolved_by_idx"
            ),
        ),
    ]
