"""The canonical model: a shape built from already validated values is the one pydantic builds."""

from __future__ import annotations

import pickle
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from polymask.model import Shape, ShapeKind

coords = st.floats(-1e6, 1e6, allow_nan=False)
points = st.lists(st.tuples(coords, coords), min_size=1, max_size=5).map(tuple)
optional = st.fixed_dictionaries(
    {},
    optional={
        "group": st.none() | st.integers(-5, 5) | st.text(max_size=3),
        "where": st.text(max_size=12),
        "z": st.floats(-10, 10),
        "rotation": st.floats(-360, 360),
        "holes": st.lists(points, max_size=2).map(tuple),
    },
)


@given(
    label=st.text(min_size=1, max_size=8),
    kind=st.sampled_from(typing.get_args(ShapeKind)),
    points=points,
    optional=optional,
)
def test_from_validated_is_the_validated_shape(label, kind, points, optional):
    validated = Shape(label=label, kind=kind, points=points, **optional)
    trusted = Shape.from_validated(label, kind, points, **optional)
    assert trusted == validated
    assert list(trusted.__dict__.items()) == list(validated.__dict__.items())  # field order too
    assert trusted.model_fields_set == validated.model_fields_set
    assert trusted.model_dump() == validated.model_dump()
    assert pickle.loads(pickle.dumps(trusted)) == validated  # shapes travel to worker processes


def test_from_validated_shapes_stay_frozen_and_share_no_state():
    a = Shape.from_validated("a", "polygon", ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)))
    b = Shape.from_validated("b", "line", ((0.0, 0.0), (1.0, 1.0)), group=3)
    with pytest.raises(ValidationError):
        a.label = "c"
    assert (a.group, b.group, a.where, a.line_width) == (None, 3, "", 10.0)


def test_from_validated_refuses_unknown_fields():
    with pytest.raises(TypeError, match="colour"):
        Shape.from_validated("a", "point", ((0.0, 0.0),), colour="red")
