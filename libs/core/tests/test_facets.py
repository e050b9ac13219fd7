"""Facets: the strings a document is indexed under, and which one a filtered list reads."""

from __future__ import annotations

from kubeward.core.facets import ALL, MAX_VALUES, facets_of, pick


def test_a_document_has_every_value_it_holds_and_the_all_facet() -> None:
    doc = {"severity": "high", "status": 500, "dismissed": False, "tags": ["a", "b", "a"]}
    fields = ("severity", "status", "dismissed", "tags", "missing")
    assert facets_of(doc, fields) == [
        ALL,
        "severity=high",
        "status=500",
        "dismissed=False",
        "tags=a",
        "tags=b",
    ]


def test_values_that_cannot_be_facets_are_left_out() -> None:
    doc = {"namespace": None, "details": {"container": "app"}, "ratio": 0.5}
    assert facets_of(doc, ("namespace", "details", "ratio")) == [ALL]


def test_the_first_filter_in_the_preference_is_read() -> None:
    order = ("name", "namespace", "severity")
    assert pick({"severity": "low", "namespace": "web"}, order) == ("namespace", ["namespace=web"])
    assert pick({"other": 1}, order) == (ALL, [ALL])
    assert pick({}, order) == (ALL, [ALL])


def test_a_list_of_values_reads_one_facet_each() -> None:
    assert pick({"domain": {"$in": ["d1", "d2", "d1"]}}, ("domain",)) == (
        "domain",
        ["domain=d1", "domain=d2"],
    )
    assert pick({"domain": {"$in": []}}, ("domain",)) == ("domain", [])
    # A filter whose values cannot be facets, or too many to read one by one, falls
    # through to the next field.
    assert pick({"a": {"$in": [1.5]}, "b": "x"}, ("a", "b")) == ("b", ["b=x"])
    many = {"a": {"$in": [str(i) for i in range(MAX_VALUES + 1)]}}
    assert pick(many, ("a",)) == (ALL, [ALL])
