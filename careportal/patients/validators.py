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
