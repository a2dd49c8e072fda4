import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from careportal.core.formatting import format_nhs_number
from careportal.patients.validators import normalise_nhs_number, validate_nhs_number
from tests.patients.factories import nhs_number_for


@pytest.mark.parametrize("value", ["9990000018", "999 000 0018", "999-000-0018", "9434765919"])
def test_valid_nhs_numbers_pass(value):
    validate_nhs_number(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("9990000019", "nhs_number_checksum"),
        ("999000001", "nhs_number_length"),
        ("99900000181", "nhs_number_length"),
        ("99900000AB", "nhs_number_length"),
        ("", "nhs_number_length"),
    ],
)
def test_invalid_nhs_numbers_are_refused_with_a_specific_reason(value, code):
    with pytest.raises(ValidationError) as error:
        validate_nhs_number(value)
    assert error.value.code == code


@given(st.integers(min_value=0, max_value=99_999))
def test_generated_test_numbers_pass_modulus_11(n):
    validate_nhs_number(nhs_number_for(n))


@given(st.integers(min_value=0, max_value=99_999), st.integers(min_value=0, max_value=9))
def test_changing_any_one_digit_breaks_the_check(n, position):
    number = nhs_number_for(n)
    changed = number[:position] + str((int(number[position]) + 1) % 10) + number[position + 1 :]
    with pytest.raises(ValidationError):
        validate_nhs_number(changed)


def test_nhs_numbers_are_shown_three_three_four():
    assert format_nhs_number("9990000018") == "999 000 0018"
    assert normalise_nhs_number("999 000 0018") == "9990000018"
