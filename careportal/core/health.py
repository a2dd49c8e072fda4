"""Checks behind /health/ (careportal.core.views.health), for load balancers and monitoring.

A failing check answers with a short fixed message: the page is public, so it never carries a driver's error text
(which can name hosts, ports, users or rows). The full error goes to the log (django-health-check logs it as a
warning), where operators can read it.
"""

import dataclasses

from django.db import DatabaseError, connections
from django_tasks import task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult
from health_check import checks
from health_check.base import HealthCheck
from health_check.exceptions import HealthCheckException, ServiceUnavailable


@dataclasses.dataclass
class Database(checks.Database):
    """The database answers `SELECT 1` (django-health-check's check, with a message that tells nothing more)."""

    def run(self) -> None:
        try:
            super().run()
        except HealthCheckException as error:
            raise ServiceUnavailable("The database cannot be reached") from error


@dataclasses.dataclass
class TaskBackend(HealthCheck):
    """The background task backend can be reached: for the database backend, its job table answers a query."""

    alias: str = "default"

    def run(self) -> None:
        backend = task_backends[self.alias]
        if not isinstance(backend, DatabaseBackend):
            # The immediate (tests) and dummy backends have nothing to reach.
            return
        queryset = DBTaskResult.objects.filter(backend_name=backend.alias)
        connection = connections[queryset.db]
        # Checks run in a short-lived worker thread: close what it opens, or each probe would leave a connection.
        opened_here = connection.connection is None
        try:
            queryset.exists()
        except DatabaseError as error:
            raise ServiceUnavailable("The task queue table cannot be read") from error
        finally:
            if opened_here:
                connection.close()
