from django.db import migrations

PRINT_ROOM_GROUP = "Print room"


def create_print_room_group(apps, schema_editor):
    """The role that prints and posts letters for patients who are not paperless (careportal/letters/access.py)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after the whole migrate run; this group needs its permission now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=PRINT_ROOM_GROUP)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="letters", codename="work_print_room"))


def remove_print_room_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=PRINT_ROOM_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("letters", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_print_room_group, remove_print_room_group)]
