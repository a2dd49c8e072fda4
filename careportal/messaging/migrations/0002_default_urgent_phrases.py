from django.db import migrations

# Phrases that suggest a patient needs urgent or emergency care rather than a message, grouped as NHS 111 and 999
# guidance groups them. Matched after normalisation (lower case, no punctuation or apostrophes, single spaces).
# The trust reviews and edits them at /staff/messages/urgent-phrases/, helped by the interception counts.
PHRASES = {
    "chest pain": ["chest pain", "pain in my chest", "chest tightness", "tight chest", "crushing pain"],
    "breathing": [
        "cant breathe",
        "cannot breathe",
        "can not breathe",
        "struggling to breathe",
        "difficulty breathing",
        "short of breath",
        "shortness of breath",
        "choking",
        "lips turning blue",
    ],
    "stroke": [
        "face drooping",
        "drooping face",
        "slurred speech",
        "cant lift my arm",
        "cannot lift my arm",
        "arm weakness",
        "sudden weakness",
        "stroke",
    ],
    "bleeding": ["heavy bleeding", "bleeding heavily", "wont stop bleeding", "bleeding wont stop", "coughing up blood", "vomiting blood"],
    "collapse": ["collapsed", "unconscious", "passed out", "fitting", "seizure", "having a fit"],
    "allergic reaction": ["anaphylaxis", "throat swelling", "swollen tongue", "severe allergic reaction"],
    "suicide or self-harm": [
        "suicide",
        "suicidal",
        "kill myself",
        "end my life",
        "take my own life",
        "want to die",
        "self harm",
        "selfharm",
        "hurt myself",
        "harm myself",
        "overdose",
    ],
    "sepsis": ["sepsis", "mottled skin", "blotchy skin", "very high temperature"],
}


def load(apps, schema_editor):
    UrgentPhrase = apps.get_model("messaging", "UrgentPhrase")
    for category, phrases in PHRASES.items():
        for phrase in phrases:
            UrgentPhrase.objects.get_or_create(phrase=phrase, defaults={"category": category})


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
