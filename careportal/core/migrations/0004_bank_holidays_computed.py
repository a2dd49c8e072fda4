import datetime

from django.db import migrations, models

# The England and Wales bank holidays that 0003 loaded. They are now computed for any year by the `holidays`
# package (careportal.core.working_days), so the copies go; a day staff added themselves stays, as a local closure.
LOADED_BY_0003 = [
    "2026-01-01",
    "2026-04-03",
    "2026-04-06",
    "2026-05-04",
    "2026-05-25",
    "2026-08-31",
    "2026-12-25",
    "2026-12-28",
    "2027-01-01",
    "2027-03-26",
    "2027-03-29",
    "2027-05-03",
    "2027-05-31",
    "2027-08-30",
    "2027-12-27",
    "2027-12-28",
]


def remove_loaded_copies(apps, schema_editor):
    BankHoliday = apps.get_model("core", "BankHoliday")
    BankHoliday.objects.filter(date__in=[datetime.date.fromisoformat(day) for day in LOADED_BY_0003]).delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0003_bank_holidays_england_and_wales")]
    operations = [
        migrations.AddField(
            model_name="bankholiday",
            name="change",
            field=models.CharField(
                choices=[
                    ("closed", "Closed: not a working day"),
                    ("open", "Open: a working day, although it is a bank holiday"),
                ],
                default="closed",
                max_length=10,
            ),
        ),
        migrations.RunPython(remove_loaded_copies, migrations.RunPython.noop),
    ]
