"""validate.py: the checks of one value (types, ranges, names), each refusal naming ``key=value``
and a value that works."""

from __future__ import annotations

import re

import pytest

from genre_lightning.errors import UserError
from genre_lightning.validate import (
    Check,
    check_section,
    choice,
    flag,
    number,
    positive,
    text,
    texts,
    whole,
)


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (whole(1, "3"), 1.5, "k=1.5 is not a whole number; e.g. k=3"),
        (whole(1, "3"), True, "k=true is not a number; e.g. k=3"),
        (number(0, whole=False, above=False, example="1"), float("nan"), "is not a finite"),
        (positive("0.1"), 0, "k=0 must be above 0; e.g. k=0.1"),
        (positive("0.1", optional=True), -1, "k=-1 must be above 0, or null"),
        (choice(["a", "b"]), "c", "k=c is not known; use k=a|b"),
        (choice([False, "db"]), 0, "k=0 is not known"),
        (flag(), "yes", "k=yes must be true or false"),
        (whole(1, "3"), None, "k=null is not a number"),
        (whole(1, "3"), 2.0, "k=2.0 is not a whole number"),
        (text("a.wav"), None, "k=null must be a text; e.g. k=a.wav"),
        (text("a.wav"), " ", "is empty; e.g. k=a.wav"),
        (text("a.wav"), ["a"], "k=[a] must be a text"),
        (text("a.wav", optional=True), 3, "k=3 must be a text or null"),
        (texts("[a,b]"), "a", "k=a must be a list of texts"),
        (texts("[a,b]"), ["a", None], "k=[a,null] must be a list of texts"),
        (texts("[a,b]", at_least=1), [], "k=[] must name at least 1"),
        (flag(), "true", 'k="true" must be true or false'),
        (choice(["a"]), {"x": 1}, "k={x:1} is not known"),
    ],
)
def test_checks(check: Check, value: object, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        check_section({"k": value}, {"k": check})
