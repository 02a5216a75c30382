"""GeoJSON partial loads: a file is one image, so with a ``problems`` list an error of a
feature, or of the image's size, is returned on that image instead of raised."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymask.errors import AnnotationError
from polymask.formats import load_annotations
from polymask.formats.options import FormatOptions
from tests.conftest import REPO
from tests.helpers import mutate

GEOJSON = REPO / "tests" / "formats" / "geojson"
BROKEN = GEOJSON / "landcover" / "tile_13_broken.geojson"
OPTIONS = FormatOptions(label_property="class", image_size=(8, 6))


def _partial(path, options=OPTIONS):
    problems: list = []
    (image,) = load_annotations(path, options=options, problems=problems)
    assert problems == []  # a file of one image has no error outside it
    return image


def test_bad_features_are_errors_of_the_image_and_the_rest_loads():
    image = _partial(BROKEN)
    assert [(e.path, e.line, e.code) for e in image.errors] == [
        ("features[1].geometry.coordinates", 8, "PM012"),  # an open ring
        ("features[2].properties.class", 9, "PM026"),  # class 7.5
    ]
    assert (image.key, image.width, image.height) == ("tile_13_broken", 8, 6)
    assert [(s.label, s.where) for s in image.shapes] == [
        ("2", "features[0].geometry.coordinates"),
        ("7", "features[3].geometry.coordinates"),
    ]
    assert image.categories == ((2, "2"), (7, "7"))


def test_without_a_problems_list_the_file_fails_as_before():
    with pytest.raises(AnnotationError) as caught:
        load_annotations(BROKEN, options=OPTIONS)
    # validation stops the file first, as validate has always reported it
    assert [(p.path, p.line) for p in caught.value.problems] == [
        ("features[1].geometry.coordinates", 8)
    ]


@pytest.mark.parametrize(
    ("name", "options", "error"),
    [
        ("missing_label.geojson", FormatOptions(image_size=(64, 48)), "features[0].properties"),
        ("no_size.geojson", FormatOptions(), ""),
        (
            "outside_reference.geojson",
            FormatOptions(reference=str(GEOJSON / "valid" / "reference.tif")),
            "features",
        ),
    ],
)
def test_invalid_examples_return_their_image_with_the_error(name, options, error):
    path = GEOJSON / "invalid" / name
    with pytest.raises(AnnotationError) as caught:
        load_annotations(path, options=options)
    image = _partial(path, options)
    assert image.errors == tuple(caught.value.problems)
    assert image.errors[0].path == error
    assert image.width > 0 or name == "no_size.geojson"  # the size is what is unknown there


def test_a_file_that_is_not_a_feature_collection_still_raises():
    problems: list = []
    with pytest.raises(AnnotationError, match="a bare Feature is not read"):
        load_annotations(GEOJSON / "invalid" / "single_feature.geojson", problems=problems)
    assert problems == []


def test_invalid_json_still_raises(tmp_path):
    path = tmp_path / "cut.geojson"
    path.write_text(BROKEN.read_text()[:200])
    with pytest.raises(AnnotationError) as caught:
        load_annotations(path, options=OPTIONS, problems=[])
    assert [p.code for p in caught.value.problems] == ["PM001"]


def test_a_good_file_loads_alike_both_ways():
    path = GEOJSON / "landcover" / "tile_12.geojson"
    (whole,) = load_annotations(path, options=OPTIONS)
    assert _partial(path) == whole


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70_000) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_partial_and_whole_file_loads_agree(tmp_path_factory, data):
    source = data.draw(st.sampled_from(sorted(GEOJSON.glob("*/*.geojson"))), label="example")
    doc = json.loads(source.read_text())
    mutate(doc, data, json_values)
    file = tmp_path_factory.mktemp("mutated") / "tile.geojson"
    file.write_text(json.dumps(doc))
    options = FormatOptions(image_size=(64, 48))
    try:
        whole = load_annotations(file, "geojson", options=options)
    except AnnotationError as exc:
        whole, refused = None, set(exc.problems)
    try:
        partial = load_annotations(file, "geojson", options=options, problems=[])
    except AnnotationError as exc:  # only a file unreadable as a whole, refused both ways
        assert whole is None and refused == set(exc.problems)
        return
    if whole is not None:
        assert partial == whole
    else:
        (image,) = partial
        assert refused <= set(image.errors)
