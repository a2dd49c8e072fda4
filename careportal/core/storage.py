from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    # Rewrite `import ... from "../nhsuk/nhsuk-frontend.min.js"` to the hashed file name as well.
    support_js_module_import_aggregation = True
    # The NHS.UK package ships .map files that name sources we do not ship; do not fail collectstatic on them.
    manifest_strict = False
