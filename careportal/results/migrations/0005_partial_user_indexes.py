# Each foreign key below loses its own index: those naming a person (set on few rows) get a partial one instead,
# the report's patient and care team are served by indexes that lead with them (report_patient_idx,
# report_inbox_idx). DropForeignKeyIndex drops the index and nothing else.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from careportal.core.migration_operations import DropForeignKeyIndex


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0005_careteam_sensitive_category"),
        ("results", "0004_inbox_order_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        DropForeignKeyIndex(
            model_name="diagnosticreport",
            name="care_team",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="diagnostic_reports",
                to="patients.careteam",
            ),
        ),
        DropForeignKeyIndex(
            model_name="diagnosticreport",
            name="clinician_comment_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        DropForeignKeyIndex(
            model_name="diagnosticreport",
            name="held_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        DropForeignKeyIndex(
            model_name="diagnosticreport",
            name="patient",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="diagnostic_reports",
                to="patients.patient",
            ),
        ),
        DropForeignKeyIndex(
            model_name="diagnosticreport",
            name="released_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        DropForeignKeyIndex(
            model_name="diagnosticreport",
            name="retracted_by",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        DropForeignKeyIndex(
            model_name="diagnosticreport",
            name="reviewed_by",
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
            model_name="diagnosticreport",
            index=models.Index(
                condition=models.Q(("released_by__isnull", False)),
                fields=["released_by"],
                name="report_released_by_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="diagnosticreport",
            index=models.Index(
                condition=models.Q(("reviewed_by__isnull", False)),
                fields=["reviewed_by"],
                name="report_reviewed_by_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="diagnosticreport",
            index=models.Index(
                condition=models.Q(("held_by__isnull", False)), fields=["held_by"], name="report_held_by_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="diagnosticreport",
            index=models.Index(
                condition=models.Q(("retracted_by__isnull", False)),
                fields=["retracted_by"],
                name="report_retracted_by_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="diagnosticreport",
            index=models.Index(
                condition=models.Q(("clinician_comment_by__isnull", False)),
                fields=["clinician_comment_by"],
                name="report_comment_by_idx",
            ),
        ),
    ]
