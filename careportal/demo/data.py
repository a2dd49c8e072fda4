"""The demo trust: people and teams matching the sample HL7 messages in tests/hl7/samples/.

Development only: this app is not installed when CAREPORTAL_ENV=production.
"""

import datetime

DEMO_PASSWORD = "CarePortal-demo-1"  # noqa: S105 - a published demo password, for demo accounts only
# Printed on the demo activation letter of the patient who has no account yet (Siobhán O'Sullivan), with her date of
# birth (22 November 1979) and postcode (N8 7QE).
DEMO_ACTIVATION_CODE = "DEMO-CODE-2026"
# demo.patient's security questions, so that "I have forgotten my password" can be tried (README.md).
DEMO_SECURITY_ANSWERS = {
    "first_school": "Highgate Primary",
    "first_pet": "Biscuit",
    "childhood_street": "Elm Court",
}

CARE_TEAMS = [
    {
        "name": "Haematology",
        "description": "Blood disorders, anaemia and blood cancers.",
        "response_target_working_days": 3,
    },
    {
        "name": "Dermatology",
        "description": "Skin conditions, including skin lesions and skin cancer checks.",
        "response_target_working_days": 5,
    },
    {
        "name": "Children's Urology",
        "description": "Kidney, bladder and urinary problems in children and young people.",
        "response_target_working_days": 3,
    },
]

# Which team's results inbox a report lands in (careportal.results.models.ResultRouting), by the codes the sample
# messages carry: the hospital service in PV1-10 and the ordering clinician in OBR-16.
RESULT_ROUTINGS = [
    ("service", "HAEM", "Haematology"),
    ("clinician", "C1234567", "Haematology"),
    ("clinician", "C7654321", "Dermatology"),
    ("clinician", "C2223334", "Children's Urology"),
]

# Hospital and NHS numbers as in tests/hl7/samples/ (NHS numbers from the 999 test range).
PATIENTS = [
    {
        "hospital_number": "40012345",
        "nhs_number": "9990000018",
        "given_name": "Eleanor",
        "family_name": "Hargreaves",
        "birth_date": datetime.date(1958, 3, 14),
        "address_line_1": "12 Cranbrook Road",
        "town": "London",
        "postcode": "N6 4DP",
        "home_phone": "020 7946 0018",
        "email": "eleanor.h@example.org",
        "contact_preference": "portal",
        "account": "demo.patient",
        "care_teams": [("Haematology", "referral")],
    },
    {
        "hospital_number": "40077801",
        "nhs_number": "9990000026",
        "given_name": "Siobhán",
        "family_name": "O'Sullivan",
        "birth_date": datetime.date(1979, 11, 22),
        "address_line_1": "4 Mill Lane",
        "town": "London",
        "postcode": "N8 7QE",
        "account": None,
        "activation_code": True,
        "care_teams": [("Dermatology", "referral")],
    },
    {
        "hospital_number": "40055512",
        "nhs_number": "9990000034",
        "given_name": "Arjun",
        "family_name": "Patel",
        "birth_date": datetime.date(2015, 6, 7),
        "address_line_1": "27 Hornsey Lane",
        "town": "London",
        "postcode": "N19 3PL",
        "home_phone": "020 7946 0734",
        "account": None,
        "care_teams": [("Children's Urology", "referral")],
    },
]

STAFF = [
    {
        "username": "demo.clinician",
        "display_name": "Dr C Okafor",
        "first_name": "Chidi",
        "last_name": "Okafor",
        "email": "demo.clinician@example.nhs.uk",
        "teams": [("Haematology", "clinician")],
        "is_helpdesk": False,
    },
    {
        # The helpdesk, who also work the print room here (letters to post: /staff/letters/to-post/).
        "username": "demo.helpdesk",
        "display_name": "Sam Reid",
        "first_name": "Sam",
        "last_name": "Reid",
        "email": "demo.helpdesk@example.nhs.uk",
        "teams": [],
        "groups": ["Print room"],
        "is_helpdesk": True,
    },
    {
        # Works the HL7 queue and configures the inbound interfaces (/staff/hl7/); no care team, no patient search.
        "username": "demo.integration",
        "display_name": "Ira Khan",
        "first_name": "Ira",
        "last_name": "Khan",
        "email": "demo.integration@example.nhs.uk",
        "teams": [],
        "groups": ["Integration administrators"],
        "is_helpdesk": False,
    },
]

# The hospital systems whose sample messages the demo feeds through the HL7 interface (careportal/demo/hl7 and
# tests/hl7/samples/), each allowed from this machine only. (name, MSH-3, MSH-4, message types)
DEMO_LOOPBACK = ["127.0.0.1/32", "::1/128"]
DEMO_INTERFACES = [
    ("Laboratory (WinPath)", "WINPATH", "RRV_LAB", ["ORU^R01"]),
    ("Cellular pathology (CoPath)", "COPATH", "RRV_PATH", ["ORU^R01"]),
    (
        "Patient administration (PAS)",
        "PAS",
        "RRV",
        [
            *["ADT^A04", "ADT^A08", "ADT^A28", "ADT^A31", "ADT^A40"],
            *["SIU^S12", "SIU^S13", "SIU^S14", "SIU^S15", "SIU^S17", "SIU^S26"],
        ],
    ),
    ("Clinic letters (EDM)", "EDM", "RRV", ["MDM^T02", "MDM^T10", "MDM^T11"]),
]
DEMO_HOSPITAL_NUMBER_AUTHORITY = "RRV"

PROXIES = [
    {
        "username": "demo.parent",
        "display_name": "Priya Patel",
        "first_name": "Priya",
        "last_name": "Patel",
        "email": "demo.parent@example.org",
        "patient": "40055512",
        "relationship": "mother",
        "basis": "parental",
        "scopes": ["appointments", "results", "messages", "letters", "details"],
        "status": "active",
        "identity_evidence": "passport",
        "relationship_evidence": "birth_certificate",
        "evidence_note": "Seen at the Children's Urology clinic reception.",
    },
    # An application waiting in the helpdesk's queue (/staff/helpdesk/proxy-requests/), so a newcomer can try it.
    {
        "username": "demo.carer",
        "display_name": "Declan O'Sullivan",
        "first_name": "Declan",
        "last_name": "O'Sullivan",
        "email": "demo.carer@example.org",
        "patient": "40077801",
        "relationship": "brother",
        "basis": "lpa",
        "scopes": ["appointments", "letters"],
        "status": "requested",
        "applicant_note": "I hold a lasting power of attorney for health and welfare for my sister.",
    },
]
