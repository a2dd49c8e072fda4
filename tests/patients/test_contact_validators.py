"""UK postcodes and phone numbers: what is accepted, how it is written back, and what is refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careportal.patients.validators import normalise_phone, normalise_postcode, normalise_uk_mobile


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("SW1A 1AA", "SW1A 1AA"),  # AA9A 9AA
        ("sw1a1aa", "SW1A 1AA"),
        ("  n6   5ab ", "N6 5AB"),  # A9 9AA
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),  # A99 9AA
        ("CR2 6XH", "CR2 6XH"),  # AA9 9AA
        ("DN55 1PT", "DN55 1PT"),  # AA99 9AA
        ("W1A 0AX", "W1A 0AX"),  # A9A 9AA
        ("EC1A 1BB", "EC1A 1BB"),
        ("gir 0aa", "GIR 0AA"),  # Girobank
        ("GIR0AA", "GIR 0AA"),
        ("BFPO 57", "BFPO 57"),  # British Forces Post Office number
        ("bfpo 1234", "BFPO 1234"),
        ("BF1 3AA", "BF1 3AA"),  # a BFPO postcode proper
        ("\tLS1\u00a04AP", "LS1 4AP"),  # a no-break space pasted in
    ],
)
def test_uk_postcodes_are_accepted_and_written_properly(typed, stored):
    assert normalise_postcode(typed) == stored


@pytest.mark.parametrize(
    "value",
    [
        "",
        "hello",
        "12345",  # a US ZIP code
        "SW1A",  # outward code only
        "SW1A 1A",
        "SW1A 1AAA",
        "QA1 1AA",  # Q never starts a postcode
        "AI1 1AA",  # I never comes second
        "SW1A 1AI",  # I, C, K, M, O and V are never in the inward code
        "SW1A 1CA",
        "ASCN 1ZZ",  # British overseas territory, not a UK postcode
        "BFPO",
        "BFPO 12345",
        "N6 5AB X",
        "N6-5AB",
    ],
)
def test_things_that_are_not_uk_postcodes_are_refused(value):
    with pytest.raises(ValueError, match="not a UK postcode"):
        normalise_postcode(value)


@given(st.text(max_size=12))
def test_any_text_is_either_a_postcode_or_refused_never_an_error(value):
    try:
        result = normalise_postcode(value)
    except ValueError:
        return
    assert result == normalise_postcode(result)  # writing it properly twice changes nothing


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("07700 900123", "07700 900123"),  # Ofcom's drama range: demo data and tests
        ("+447700900123", "07700 900123"),
        ("07123 456789", "07123 456789"),
        ("0044 7123 456789", "07123 456789"),
        ("07624 123456", "07624 123456"),  # Isle of Man, a +44 mobile
    ],
)
def test_uk_mobiles_are_accepted(typed, stored):
    assert normalise_uk_mobile(typed) == stored


@pytest.mark.parametrize("value", ["020 7946 0000", "0800 123 4567", "07123", "+33 6 12 34 56 78", "mobile", ""])
def test_what_is_not_a_uk_mobile_is_refused(value):
    with pytest.raises(ValueError):
        normalise_uk_mobile(value)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("02079460000", "020 7946 0000"),
        ("01632 960001", "01632 960001"),  # Ofcom's drama range
        ("07700900123", "07700 900123"),  # a mobile as the home number is allowed
        ("+33 6 12 34 56 78", "+33 6 12 34 56 78"),
    ],
)
def test_home_phone_numbers_are_accepted(typed, stored):
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize("value", ["12", "020 7946", "phone me", "+999 123"])
def test_what_is_not_a_phone_number_is_refused(value):
    with pytest.raises(ValueError):
        normalise_phone(value)
