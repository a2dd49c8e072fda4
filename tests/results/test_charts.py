"""The trend chart: careportal/results/charts.py (a pure function from points to SVG) and how the trend page
feeds it."""

import datetime
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from careportal.results.charts import ChartPoint, trend_chart
from careportal.results.presenters import trend_page
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

SVG = "{http://www.w3.org/2000/svg}"


def point(day: int, value: str, *, direction: str = "", out: bool = False) -> ChartPoint:
    return ChartPoint(
        day=datetime.date(2026, 3, day),
        value=Decimal(value),
        label=f"{day} March 2026: {value} g/L",
        out_of_range=out,
        direction=direction,
    )


def chart(points, low="115", high="165", unit="g/L", title="Haemoglobin over time"):  # type: ignore[no-untyped-def]
    return trend_chart(
        points=points,
        low=Decimal(low) if low is not None else None,
        high=Decimal(high) if high is not None else None,
        unit=unit,
        title=title,
        chart_id="trend-hb",
    )


def parse(result) -> ET.Element:  # type: ignore[no-untyped-def]
    return ET.fromstring(str(result.svg))  # noqa: S314 - our own output, parsed to check it is well-formed


def points_of(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if "careportal-chart__point" in e.get("class", "")]


def band_of(root: ET.Element) -> ET.Element | None:
    return next((e for e in root.iter(f"{SVG}rect") if e.get("class") == "careportal-chart__band"), None)


def test_the_chart_is_well_formed_accessible_svg_that_scales():
    root = parse(chart([point(1, "120"), point(5, "170", direction="high", out=True), point(9, "135")]))

    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("viewBox") == "0 0 400 240" and root.get("width") == "100%"
    assert root.get("height") is None, "the height follows the width through the viewBox"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text == "Haemoglobin over time"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "3 values from 1 March 2026 to 9 March 2026" in desc.text
    assert "Lowest 120 g/L, highest 170 g/L" in desc.text
    assert "1 of 3 values is outside the range" in desc.text
    assert "The range is 115 to 165 g/L" in desc.text
    assert not any(e.get("style") for e in root.iter()), "no inline styles: the page's CSP forbids them"


def test_the_band_spans_the_reference_range_and_every_point_is_drawn():
    root = parse(chart([point(1, "120"), point(5, "170", direction="high", out=True), point(9, "135")]))

    band = band_of(root)
    assert band is not None
    assert len(points_of(root)) == 3
    # The band's top edge is above (a smaller y than) its bottom edge, and it has height.
    assert float(band.get("height")) > 0


def test_points_outside_the_range_have_their_own_shape_and_title():
    root = parse(
        chart(
            [
                point(1, "100", direction="low", out=True),
                point(2, "140"),
                point(3, "180", direction="high", out=True),
                point(4, "150", out=True),
            ]
        )
    )

    shapes = [(e.tag.removeprefix(SVG), e.get("class").split("--")[-1]) for e in points_of(root)]
    assert shapes == [("polygon", "low"), ("circle", "within"), ("polygon", "high"), ("polygon", "outside")]
    low, high = (points_of(root)[0].get("points"), points_of(root)[2].get("points"))
    assert low != high, "the triangles point different ways"
    titles = [e.find(f"{SVG}title").text for e in points_of(root)]
    assert titles[0] == "1 March 2026: 100 g/L"


def test_a_single_value_is_centred_and_described():
    result = chart([point(4, "135")])
    root = parse(result)

    (marker,) = points_of(root)
    assert float(marker.get("cx")) == pytest.approx(52 + 332 / 2)
    assert result.summary.startswith("1 value. 4 March 2026: 135 g/L.")
    assert root.find(f"{SVG}polyline") is None, "no line through one point"


def test_equal_values_without_a_range_do_not_divide_by_zero():
    root = parse(chart([point(1, "5"), point(2, "5"), point(3, "5")], low=None, high=None, unit="mmol/L"))

    ys = {e.get("cy") for e in points_of(root)}
    assert len(ys) == 1
    assert 24 < float(ys.pop()) < 24 + 176, "inside the plot area"
    assert band_of(root) is None
    assert "The lab gave no range for this test." in root.find(f"{SVG}desc").text


def test_a_range_with_one_end_runs_the_band_to_the_edge():
    root = parse(chart([point(1, "85"), point(2, "95")], low="60", high=None, unit="mL/min"))

    band = band_of(root)
    assert band is not None and float(band.get("y")) == 24, "from the top of the plot area"
    assert "The range is 60 mL/min or more." in root.find(f"{SVG}desc").text


def test_text_in_the_chart_is_escaped():
    result = chart([point(1, "1")], unit="<b>&", title='A "<script>" test')

    root = parse(result)
    assert root.find(f"{SVG}title").text == 'A "<script>" test'
    assert "<script>" not in str(result.svg)


def test_a_chart_needs_a_point():
    with pytest.raises(ValueError, match="at least one point"):
        chart([])


@pytest.mark.django_db
def test_values_given_as_a_limit_are_not_plotted_as_exact_values(patient):
    # Decision: ">90" is shown in the table as ">90" and left off the chart, with a note saying so. A point at 90
    # would claim a value the lab did not measure.
    observations = []
    for day, value, comparator in ((1, "85", ""), (2, "90", ">"), (3, "88", "")):
        report = DiagnosticReportFactory(
            patient=patient, released=True, collected_at=datetime.datetime(2026, 3, day, 9, tzinfo=datetime.UTC)
        )
        observations.append(
            ObservationFactory(
                report=report,
                code="GFR",
                name="eGFR",
                value_type="SN",
                value_numeric=Decimal(value),
                value_comparator=comparator,
                unit="mL/min",
                reference_low=Decimal("60"),
                reference_high=None,
                interpretation="",
            )
        )

    page = trend_page(observations)

    assert page.chart is not None
    assert len(points_of(parse(page.chart))) == 2
    assert [row.value for row in page.rows] == ["88", ">90", "85"]
    assert "1 of these values was reported as more or less than a limit" in page.limit_values_note
