import dataclasses

from django.db import DatabaseError
from django_tasks import task_backends
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable


@dataclasses.dataclass
class TaskBackend(HealthCheck):
    """The background task backend can be reached: for the database backend, its job table answers a query."""

    alias: str = "default"

    def run(self) -> None:
        backend = task_backends[self.alias]
        if backend.__class__.__name__ != "DatabaseBackend":
            return
        from django_tasks_db.models import DBTaskResult

        try:
            DBTaskResult.objects.only("id").first()
        except DatabaseError as error:
            raise ServiceUnavailable("The task queue table cannot be read") from error
