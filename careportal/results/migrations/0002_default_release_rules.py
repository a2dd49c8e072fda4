from django.db import migrations

# DESIGN.md's defaults (NHS England's 2024 guidance on automated results release; UCLH's practice). Imaging: "21 days"
# is 15 working days (three working weeks), as rules count working days. Each one can be
# changed by staff at /staff/results/rules/.
REVIEW = "after_review"
AUTO = "after_working_days"
CATEGORY_RULES = [
    # (category, description, mode, working days, result kind, sensitive category)
    ("SP", "Histopathology (surgical pathology)", REVIEW, 0, "histology", ""),
    ("CP", "Cytopathology", REVIEW, 0, "histology", ""),
    ("GEN", "Genetic tests", REVIEW, 0, "genetics", "genetics"),
    ("RAD", "Radiology reports", AUTO, 15, "imaging", ""),
    ("RX", "X-ray reports", AUTO, 15, "imaging", ""),
    ("CT", "CT scan reports", AUTO, 15, "imaging", ""),
    ("NMR", "MRI scan reports", AUTO, 15, "imaging", ""),
    ("NMS", "Nuclear medicine scan reports", AUTO, 15, "imaging", ""),
    ("RUS", "Ultrasound scan reports", AUTO, 15, "imaging", ""),
    ("OUS", "Obstetric ultrasound reports", AUTO, 15, "imaging", ""),
    ("VUS", "Vascular ultrasound reports", AUTO, 15, "imaging", ""),
    ("CUS", "Heart ultrasound (echo) reports", AUTO, 15, "imaging", ""),
]
TEST_CODE_RULES = [
    ("HIV", "HIV test", REVIEW, 0, "lab", "hiv"),
    ("HIVAB", "HIV antibody and antigen test", REVIEW, 0, "lab", "hiv"),
    ("HBSAG", "Hepatitis B surface antigen", REVIEW, 0, "lab", ""),
    ("HCVAB", "Hepatitis C antibody", REVIEW, 0, "lab", ""),
    ("PSA", "Prostate specific antigen (PSA)", REVIEW, 0, "cancer_markers", ""),
    ("CA125", "CA 125", REVIEW, 0, "cancer_markers", ""),
    ("CA199", "CA 19-9", REVIEW, 0, "cancer_markers", ""),
    ("CEA", "Carcinoembryonic antigen (CEA)", REVIEW, 0, "cancer_markers", ""),
    ("AFP", "Alpha-fetoprotein (AFP)", REVIEW, 0, "cancer_markers", ""),
    ("SST", "Short Synacthen test (dynamic function)", REVIEW, 0, "lab", ""),
    ("OGTT", "Glucose tolerance test (dynamic function)", REVIEW, 0, "lab", ""),
    ("CTNG", "Chlamydia and gonorrhoea test", AUTO, 1, "lab", "sexual_health"),
]


def load(apps, schema_editor):
    ReleaseRule = apps.get_model("results", "ReleaseRule")
    ReleaseRule.objects.get_or_create(
        test_code="",
        category="",
        defaults={
            "description": "Blood and other lab results",
            "mode": AUTO,
            "working_days": 1,
            "result_kind": "lab",
        },
    )
    for category, description, mode, days, kind, sensitive in CATEGORY_RULES:
        ReleaseRule.objects.get_or_create(
            test_code="",
            category=category,
            defaults={
                "description": description,
                "mode": mode,
                "working_days": days,
                "result_kind": kind,
                "sensitive_category": sensitive,
            },
        )
    for code, description, mode, days, kind, sensitive in TEST_CODE_RULES:
        ReleaseRule.objects.get_or_create(
            test_code=code,
            defaults={
                "description": description,
                "mode": mode,
                "working_days": days,
                "result_kind": kind,
                "sensitive_category": sensitive,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("results", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
