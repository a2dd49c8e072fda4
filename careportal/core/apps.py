from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def create_cache_tables(*, using: str, **kwargs: Any) -> None:
    """`migrate` also creates the table of a database cache (production's default CACHE_URL), so an upgrade needs no
    separate `createcachetable` step that could be forgotten: without the table, every sign-in would fail."""
    from django.conf import settings
    from django.core.management import call_command

    if any(cache["BACKEND"].endswith(".DatabaseCache") for cache in settings.CACHES.values()):
        call_command("createcachetable", database=using, verbosity=0)


class CoreConfig(AppConfig):
    name = "careportal.core"
    label = "core"
    verbose_name = "CarePortal platform"

    def ready(self) -> None:
        from django.conf import settings

        from careportal.core.gc_tuning import gc_tune
        from careportal.core.pg_loaders import use_c_timestamp_loader

        gc_tune(settings.GC_GENERATION0_THRESHOLD)
        connection_created.connect(use_c_timestamp_loader, dispatch_uid="careportal.core.use_c_timestamp_loader")
        post_migrate.connect(create_cache_tables, sender=self, dispatch_uid="careportal.core.create_cache_tables")
