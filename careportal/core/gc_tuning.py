"""Python's garbage collector, set for a server process rather than a short script.

CPython frees most objects as soon as their last reference goes; its cyclic collector exists only for objects that
refer to each other. That collector runs a young-generation pass every 700 net allocations of container objects
(lists, dicts, instances) by default, and every pass of the oldest generation walks every object the process holds:
Django's models and URL patterns, compiled templates, and whatever a batch keeps alive. A process that builds many
small lists (parsing HL7 fields, building model instances, rendering a page) pays for those walks again and again.

Measured on the 2-CPU development machine (bench/profile_pages.py and a 20,000-message `hl7_import`), with the
young generation collected every GC_GENERATION0_THRESHOLD (default 10,000) allocations instead of 700, and what
start-up built frozen out of the collector's reach (`gc.freeze`):

- `hl7_import` backfill on PostgreSQL: 480–540 messages/s before, 630–870 after; the collector had been about a
  third of its CPU;
- CPU per request in the web process: the bare view 2.1 → 1.5 ms, the test results page 9.3–10.8 → 7.8–7.9 ms.

What this costs: garbage made of cycles waits a little longer to be freed (at most a few thousand objects), and
objects frozen at start-up are never examined again, which is right for modules, settings and models that live as
long as the process. Cyclic garbage is still collected; nothing else about memory changes.
"""

from __future__ import annotations

import gc


def gc_tune(generation0_threshold: int) -> None:
    """Freeze what exists now and collect the young generation every `generation0_threshold` allocations (0 leaves
    Python's own settings alone). Called once per process, when Django has loaded every app
    (careportal.core.apps.CoreConfig.ready): before gunicorn, the task worker or the HL7 listener does any work."""
    if generation0_threshold <= 0:
        return
    # Collect first, so that the garbage start-up left is freed rather than frozen with the rest.
    gc.collect()
    gc.freeze()
    _, generation1, generation2 = gc.get_threshold()
    gc.set_threshold(generation0_threshold, generation1, generation2)
