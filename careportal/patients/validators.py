import re

import phonenumbers
from django.core.exceptions import ValidationError
from nhs_number import is_valid


def normalise_nhs_number(value: str) -> str:
    """Strip the spaces and dashes people type ("943 476 5919" → "9434765919")."""
    return "".join(ch for ch in value if ch not in " -\t")


def validate_nhs_number(value: str) -> None:
    digits = normalise_nhs_number(value)
    if len(digits) != 10 or not digits.isdigit():
        raise ValidationError("Enter an NHS number with 10 digits, like 943 476 5919", code="nhs_number_length")
    if not is_valid(digits):
        raise ValidationError(
            "This is not a valid NHS number: check each digit against the letter or card it came from",
            code="nhs_number_checksum",
        )


# UK postcodes ----------------------------------------------------------------------------------------------------
# No postcode library on PyPI is both well kept and better than this (the candidates are small, unmaintained
# regex wrappers or clients of a web API, which would send the patient's postcode to a third party). The pattern is
# the one in the UK Government Data Standards Catalogue (BS 7666) with the letters Royal Mail never uses in each
# position left out, so it checks the FORMAT of a postcode, not that Royal Mail has issued it:
#   outward code: A9, A99, AA9, AA99, A9A or AA9A; inward code: 9AA.
#   position 1 is never Q, V or X; position 2 never I, J or Z; the letter in A9A is one of ABCDEFGHJKPSTUW, the
#   letter in AA9A one of ABEHMNPRVWXY; the two inward letters are never C, I, K, M, O or V.
# Also accepted: GIR 0AA (Girobank's historic postcode, still in use), and British Forces Post Office numbers
# written "BFPO 123" (BFPO postcodes proper, like BF1 3AA, already fit the pattern). British overseas territories'
# postcodes (ASCN 1ZZ and the like) are not UK postcodes and are refused.
_OUTWARD = (
    r"(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}"
    r"|[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])"
)
_INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"
UK_POSTCODE = re.compile(
    rf"^(?:(?P<outward>{_OUTWARD})(?P<inward>{_INWARD})|(?P<gir>GIR0AA)|BFPO(?P<bfpo>[0-9]{{1,4}}))$"
)


def normalise_postcode(value: str) -> str:
    """A UK postcode in capitals with one space before the inward code ("sw1a1aa" → "SW1A 1AA"), or ValueError."""
    squeezed = "".join(value.split()).upper()
    match = UK_POSTCODE.match(squeezed)
    if match is None:
        raise ValueError("not a UK postcode")
    if match["gir"]:
        return "GIR 0AA"
    if match["bfpo"]:
        return f"BFPO {int(match['bfpo'])}"
    return f"{match['outward']} {match['inward']}"


def validate_uk_postcode(value: str) -> None:
    try:
        normalise_postcode(value)
    except ValueError:
        raise ValidationError("Enter a real UK postcode, like SW1A 1AA", code="postcode") from None


# Phone numbers ---------------------------------------------------------------------------------------------------
# Checked with `phonenumbers` (Google's libphonenumber metadata). Ofcom keeps two ranges for TV and drama that are
# never given to anyone: libphonenumber calls them invalid, but CarePortal's demo data and tests use them, so they
# are accepted (a text to one goes nowhere, as to any wrongly typed number).
_DRAMA_MOBILE = re.compile(r"^07700900[0-9]{3}$")
_DRAMA_LANDLINE = re.compile(r"^01632960[0-9]{3}$")
# The UK and the Crown Dependencies share +44 mobile numbers.
_UK_REGIONS = frozenset({"GB", "GG", "JE", "IM"})
_MOBILE_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


def _national_digits(number: phonenumbers.PhoneNumber) -> str:
    return "0" + phonenumbers.national_significant_number(number)


def _parse(value: str) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None


def normalise_uk_mobile(value: str) -> str:
    """A UK mobile number written the usual way ("+44 7700 900123" → "07700 900123"), or ValueError."""
    number = _parse(value)
    if number.country_code == 44 and _DRAMA_MOBILE.match(_national_digits(number)):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if (
        number.country_code != 44
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.region_code_for_number(number) not in _UK_REGIONS
        or phonenumbers.number_type(number) not in _MOBILE_TYPES
    ):
        raise ValueError("not a UK mobile number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def normalise_phone(value: str) -> str:
    """Any real phone number: a UK one written the usual way ("02079460000" → "020 7946 0000"), another country's
    in the international format ("+33 6 12 34 56 78"); or ValueError."""
    number = _parse(value)
    digits = _national_digits(number)
    drama = number.country_code == 44 and (_DRAMA_MOBILE.match(digits) or _DRAMA_LANDLINE.match(digits))
    if not drama and not phonenumbers.is_valid_number(number):
        raise ValueError("not a phone number")
    if number.country_code == 44:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
