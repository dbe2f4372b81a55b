"""Tests for core/data/validation.py."""

import pytest

from core.data.validation import RejectedFile, check_named_files, describe_value


def test_named_files_are_returned_as_name_bytes_tuples():
    assert check_named_files([("a.png", bytearray(b"x")), ["b.png", b"y"]]) == [
        ("a.png", b"x"),
        ("b.png", b"y"),
    ]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (b"raw", "Expected a list of (name, bytes) pairs. Received: b'raw'"),
        ([("a.png", "text")], "Expected each upload as a (name, bytes) pair. Received: ('a.png'"),
        ([("a.png",)], "Expected each upload as a (name, bytes) pair. Received: ('a.png',)"),
    ],
)
def test_bad_uploads_name_what_was_received(files, message):
    with pytest.raises(TypeError) as raised:
        check_named_files(files)
    assert str(raised.value).startswith(message)


def test_describe_value_shortens_long_values_and_rejected_file_is_a_dict():
    assert describe_value("x" * 200).endswith("...")
    assert len(describe_value("x" * 200)) == 80
    assert RejectedFile("a.png", "bad").as_dict() == {"name": "a.png", "reason": "bad"}
