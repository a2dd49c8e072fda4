"""Identifier and code systems (UK Core): the NHS number's system, the trust's hospital number, and each code's
source system as a URI.

HL7 v2 names coding systems with short codes (OBX-3.3, OBR-4.3): LN is LOINC, SCT SNOMED CT. A code from a system
we do not recognise, or a lab's own local code (L, 99zzz, blank), keeps a local system URI under the trust's
`CAREPORTAL_FHIR_LOCAL_CODE_SYSTEM_BASE`, so that an app can tell a local code from a standard one.
"""

import re

from django.conf import settings

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
LOINC = "http://loinc.org"
SNOMED_CT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V2_DIAGNOSTIC_SECTION = "http://terminology.hl7.org/CodeSystem/v2-0074"

KNOWN_SYSTEMS = {"LN": LOINC, "LNC": LOINC, "SCT": SNOMED_CT, "SNM": SNOMED_CT, "SNOMED": SNOMED_CT, "UCUM": UCUM}


def hospital_number_system() -> str:
    return str(settings.CAREPORTAL_FHIR_HOSPITAL_NUMBER_SYSTEM)


def local_system_base() -> str:
    return str(settings.CAREPORTAL_FHIR_LOCAL_CODE_SYSTEM_BASE).rstrip("/")


def system_uri(hl7_system: str) -> str:
    """The URI for an HL7 v2 coding system name; a local URI for local and unknown ones."""
    name = (hl7_system or "").strip().upper()
    if name in KNOWN_SYSTEMS:
        return KNOWN_SYSTEMS[name]
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "local"
    return f"{local_system_base()}/{slug}"


def hl7_systems_for(uri: str) -> list[str] | None:
    """The HL7 v2 system names stored for codes of `uri` (for `code=system|code` searches); None when no stored
    code can have that system (the search then matches nothing). "" stands for a blank stored system."""
    known = [name for name, known_uri in KNOWN_SYSTEMS.items() if known_uri == uri]
    if known:
        return known
    base = local_system_base() + "/"
    if uri.startswith(base):
        slug = uri[len(base) :]
        return [slug.upper(), slug.lower(), slug] + ([""] if slug == "local" else [])
    return None
