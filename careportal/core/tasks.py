"""Enqueueing background work so that it never runs for a transaction that rolls back."""

from functools import partial
from typing import Any

from django.db import transaction


def enqueue_on_commit(task: Any, /, *args: Any, **kwargs: Any) -> None:
    """Enqueue `task` once the current transaction commits (at once when there is none).

    A worker could otherwise pick up a job whose rows do not exist yet, or act on a change that was rolled back.
    """
    transaction.on_commit(partial(task.enqueue, *args, **kwargs), robust=False)
