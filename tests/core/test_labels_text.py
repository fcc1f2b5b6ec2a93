from __future__ import annotations

import pytest
from agnews_core import labels
from agnews_core.text import clean_text, model_input


def test_label_ids_round_trip() -> None:
    assert [labels.label_name(i) for i in range(1, 5)] == list(labels.LABEL_NAMES)
    assert labels.label_id("Sports") == 2
    assert labels.index_to_label_id(3) == 4
    assert labels.label_id_to_index(1) == 0
    assert labels.id2label()[3] == labels.LABEL_NAMES[3]
    assert labels.label2id()["World"] == 0


@pytest.mark.parametrize("bad", [0, 5, -1])
def test_label_name_rejects_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match="1-4"):
        labels.label_name(bad)


def test_unknown_label_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="World, Sports"):
        labels.label_id("Weather")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("UN Agency Welcomes Iran #39;s Suspension", "UN Agency Welcomes Iran's Suspension"),
        ("Oil hits #36;50 a barrel", "Oil hits $50 a barrel"),
        ("He said quot;no quot; today", 'He said "no " today'),
        ("line one\\line two", "line one line two"),
        ("too    many \t spaces\n", "too many spaces"),
        ("AT amp;T and &lt;b&gt;bold&lt;/b&gt;", "AT &T and bold"),
        ("smart #145;quotes#146;", "smart \u2018quotes\u2019"),
    ],
)
def test_clean_text_removes_agnews_artefacts(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_model_input_joins_title_and_description() -> None:
    assert model_input("Title", "Body text.") == "Title Body text."
    assert model_input("", "Only body") == "Only body"
    assert model_input(None, None) == ""


@pytest.mark.parametrize(
    "raw",
    [
        "Stocks #55296; rally",  # a surrogate as an AG News entity
        "Stocks &#xdfff; rally",
        "Stocks \ud800 rally",  # a lone surrogate as JSON "\ud800" decodes
        "Stocks\x00 rally\x07\x1b[31m",
        "Stocks \x85\x9f rally &#127;",
        "Stocks \ufffe rally",
    ],
)
def test_model_input_is_always_printable_utf8(raw: str) -> None:
    out = model_input(raw)
    out.encode("utf-8")  # no lone surrogate survives
    assert out.startswith("Stocks") and out.endswith(("rally", "[31m"))
    assert all(ch.isprintable() for ch in out), repr(out)
