"""Fail when a view module touches a patient-data model's manager directly, or the shared access layer imports a
domain app.

Views must read patient data through the access layer (the shared primitives in careportal/access/, and each app's
own lookups in careportal/<app>/access.py), which scopes every query to what the viewer may see and writes the
audit event. This lint finds `<Model>.objects` and `<Model>._default_manager` in
view modules (careportal/*/views.py, careportal/*/*_views.py, careportal/*/views/*.py, and careportal/*/api.py for
the JSON APIs' operations) for every model that
holds patient data: any model with a foreign key to Patient, the Patient model itself, and the audit log. The NHS
breast-screening service runs the same kind of check (scripts/lint_model_usage_in_views.py there).

The shared layer (careportal/access/*.py) knows who is asking and how to refuse, not other apps' models: it may
import only itself, accounts (the signed-in user), audit (the audit write) and proxy (the proxy policy). A lookup
for a model of results, messaging, hl7, patients or any other app belongs in that app's access.py.

Run: python scripts/lint_model_usage_in_views.py   (exit 1 with a list of offending lines)
"""

import ast
import os
import sys
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careportal.config.settings.test")


def patient_data_model_names() -> set[str]:
    django.setup()
    from django.apps import apps

    from careportal.patients.models import Patient

    names = {"Patient", "AccessEvent"}
    for model in apps.get_models():
        if not model.__module__.startswith("careportal."):
            continue
        for field in model._meta.get_fields():
            related = getattr(field, "related_model", None)
            if (field.is_relation and field.many_to_one and related is Patient) or (
                field.is_relation and field.one_to_one and related is Patient and field.concrete
            ):
                names.add(model.__name__)
    return names


def view_modules() -> list[Path]:
    base = ROOT / "careportal"
    return sorted(
        [*base.glob("*/views.py"), *base.glob("*/*_views.py"), *base.glob("*/views/*.py"), *base.glob("*/api.py")]
    )


def offences(path: Path, model_names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"objects", "_default_manager", "_base_manager"}
            and isinstance(node.value, ast.Name)
            and node.value.id in model_names
        ):
            found.append(
                f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr} in a view; "
                "read patient data through the app's access.py (careportal/access/ for the shared primitives) instead"
            )
    return found


SHARED_LAYER_MAY_IMPORT = {"access", "accounts", "audit", "proxy"}
# Platform code that holds no models of its own and knows no app: how a query is run, not what it reads.
SHARED_LAYER_MAY_IMPORT_MODULES = {"careportal.core.compiled_queries"}


def shared_layer_offences() -> list[str]:
    """Imports of a domain app from the shared access layer, including those under TYPE_CHECKING and in functions."""
    found = []
    for path in sorted((ROOT / "careportal" / "access").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if module in SHARED_LAYER_MAY_IMPORT_MODULES:
                    continue
                if parts[0] == "careportal" and len(parts) > 1 and parts[1] not in SHARED_LAYER_MAY_IMPORT:
                    found.append(
                        f"{path.relative_to(ROOT)}:{node.lineno}: imports {module}; the shared access layer must not "
                        f"know that app's models: put the lookup in careportal/{parts[1]}/access.py"
                    )
    return found


def main() -> int:
    model_names = patient_data_model_names()
    problems = [line for path in view_modules() for line in offences(path, model_names)]
    problems += shared_layer_offences()
    for line in problems:
        print(line)
    if problems:
        print(f"\n{len(problems)} direct patient-data queries in views or domain imports in the shared access layer.")
        return 1
    print(f"Access-layer lint: {len(view_modules())} view modules checked, {len(model_names)} patient-data models.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
