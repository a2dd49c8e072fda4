"""Static files in production: hashed names (cache forever), compressed copies, and ES-module imports rewritten.

Django's own ES-module support (`support_js_module_import_aggregation`) rewrites imports in every `*.js` file it
collects. That breaks on third-party files (htmx's `dist/ext/*.js` mention `import("../htmx")` inside a JSDoc
comment, which the pattern takes for a real import of a missing file) and misses our `.mjs` modules entirely. So
imports are rewritten in our own modules only: `careportal/*.mjs`, whose imports we write and can keep exact.
"""

from django.contrib.staticfiles.storage import HashedFilesMixin
from whitenoise.storage import CompressedManifestStaticFilesStorage

# Django's import/export patterns (the `*.js` entry of its aggregation patterns), applied to our modules only.
# A private attribute of Django 5.2 (pinned below 5.3); tests/core/test_settings.py fails if it ever changes.
_MODULE_IMPORT_PATTERNS = HashedFilesMixin._js_module_import_aggregation_patterns[1]  # type: ignore[attr-defined]


class StaticStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = False
    patterns = (
        *CompressedManifestStaticFilesStorage.patterns,
        # e.g. `import { initAll } from "../nhsuk/nhsuk-frontend.min.js";` -> the hashed file name.
        ("careportal/*.mjs", _MODULE_IMPORT_PATTERNS),
    )
    # The NHS.UK package ships .map files that name sources we do not ship; do not fail on looking those up.
    manifest_strict = False
