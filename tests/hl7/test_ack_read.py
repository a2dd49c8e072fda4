"""Reading an ACK back decodes MSA-2 and MSA-3 with CarePortal's own unescape (careportal.hl7.parsing)."""

import logging

from careportal.hl7.ack import ack_build, ack_read
from careportal.hl7.parsing import MessageHeader

MSH = b"MSH|^~\\&|CAREPORTAL||LAB||20250101120000+0000||ACK|A1|P|2.5\r"


def test_an_ack_whose_msa_3_holds_escapes_reads_back_as_the_text_they_stand_for(caplog):
    ack = MSH + b"MSA|AE|MSG\\F\\1|a\\F\\b\\S\\c\\T\\d\\E\\e\\R\\f\r"
    with caplog.at_level(logging.DEBUG):
        summary = ack_read(ack)
    assert summary.code == "AE"
    assert summary.control_id == "MSG|1"
    assert summary.text == "a|b^c&d\\e~f"
    assert caplog.records == []  # python-hl7's unescape would log the field; ours logs nothing


def test_an_unknown_escape_in_msa_3_is_kept_as_it_was_and_not_logged(caplog):
    ack = MSH + b"MSA|AR|1|see \\Zxx\\ and \\\\\r"
    with caplog.at_level(logging.DEBUG):
        summary = ack_read(ack)
    assert summary.text == "see \\Zxx\\ and \\\\"
    assert caplog.records == []


def test_text_with_delimiters_survives_ack_build_then_ack_read():
    text = "Field | component ^ sub & rep ~ escape \\"
    header = MessageHeader(control_id="C|1^2", version="2.5")
    summary = ack_read(ack_build(header=header, code="AE", text=text))
    assert summary.text == text
    assert summary.control_id == "C|1^2"
