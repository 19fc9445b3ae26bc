import numpy as np
import pytest
from hypothesis import given

from simout_plugins import build_compartments
from simout_plugins.nwb import layout_from_compartments
from tests.strategies import ragged_layouts


def test_build_compartments_issue_example(small_layout):
    comps = build_compartments(**small_layout)
    assert list(comps.id.data) == [0, 1, 5]
    rows = [list(r) for r in comps["number"][:]]
    assert rows == [[0, 1, 2], [], [0, 3]]
    assert [list(r) for r in comps["label"][:]] == [["soma", "dend", "dend"], [], ["apic", "apic"]]
    np.testing.assert_array_equal(comps["position"][2], [0.1, 0.9])


def test_position_and_label_are_optional():
    comps = build_compartments(node_ids=[4], counts=[2], number=[0, 1])
    assert comps.colnames == ("number", "node_id")


@given(ragged_layouts())
def test_layout_roundtrip_through_container(kwargs):
    comps = build_compartments(**kwargs)
    lay = layout_from_compartments(comps)
    np.testing.assert_array_equal(lay.node_ids, kwargs["node_ids"])
    np.testing.assert_array_equal(lay.counts, kwargs["counts"])
    np.testing.assert_array_equal(lay.number, kwargs["number"])
    np.testing.assert_array_equal(lay.position, kwargs["position"])
    if "label" in kwargs:
        assert list(lay.label) == list(kwargs["label"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(node_ids=[0, 1], counts=[1], number=[0]), "node_ids has 2 entries but counts has 1"),
        (dict(node_ids=[0, 1], counts=[1, 2], number=[0, 1]), "number has shape \\(2,\\) but sum\\(counts\\) is 3"),
        (dict(node_ids=[0], counts=[-1], number=[]), "negative counts \\[-1\\] for node_ids \\[0\\]"),
        (dict(node_ids=[3, 3], counts=[1, 1], number=[0, 1]), "duplicate node_ids \\[3\\]"),
        (dict(node_ids=[0], counts=[1], number=[0.5]), "number must hold integers"),
        (dict(node_ids=[0], counts=[1], number=["a"]), "number must hold integers"),
        (dict(node_ids=[0], counts=[2], number=[0, 1], position=[0.5]), "position has shape"),
        (dict(node_ids=[0], counts=[1], number=[0], position=[1.5]), "position values must lie in \\[0, 1\\]"),
        (dict(node_ids=[0], counts=[2], number=[0, 1], label=["soma"]), "label has shape"),
    ],
)
def test_bad_input_gets_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_compartments(**kwargs)


def test_same_node_id_in_two_populations_is_allowed():
    comps = build_compartments(node_ids=[0, 0], counts=[1, 1], number=[0, 0], population=["exc", "inh"])
    assert list(comps["population"].data) == ["exc", "inh"]
    with pytest.raises(ValueError, match="duplicate node_ids \\[0\\]"):
        build_compartments(node_ids=[0, 0], counts=[1, 1], number=[0, 0], population="exc")


def test_integral_floats_are_accepted_as_numbers():
    comps = build_compartments(node_ids=[0.0, 1.0], counts=[1.0, 1.0], number=[2.0, 3.0])
    assert comps["number"].target.data.dtype == np.int64
