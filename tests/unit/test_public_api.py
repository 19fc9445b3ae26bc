"""The package's top level: what it exports, its version, and the internals that moved (still there, with a warning)."""

from __future__ import annotations

import importlib.metadata
import warnings

import pytest

import simout_plugins
from simout_plugins import nwb, read, write


def test_every_exported_name_exists_and_nothing_internal_is_exported():
    missing = [n for n in simout_plugins.__all__ if not hasattr(simout_plugins, n)]
    assert missing == []
    assert not {"compartments_from_layout", "layout_from_compartments"} & set(simout_plugins.__all__)


def test_errors_conversion_and_recovery_are_at_the_top_level():
    from simout_plugins.errors import FileFormatError, OutputWriteError
    from simout_plugins.sonata import to_nwb, to_sonata
    from simout_plugins.write.recover import recover

    assert simout_plugins.FileFormatError is FileFormatError and simout_plugins.OutputWriteError is OutputWriteError
    assert (simout_plugins.to_nwb, simout_plugins.to_sonata, simout_plugins.recover) == (to_nwb, to_sonata, recover)


def test_version_is_the_installed_package_version_and_spec_version_is_apart():
    assert simout_plugins.__version__ == importlib.metadata.version("simout_plugins")
    assert simout_plugins.SPEC_VERSION == simout_plugins.VERSION == nwb.VERSION


@pytest.mark.parametrize("name", ["compartments_from_layout", "layout_from_compartments"])
def test_moved_internals_still_work_for_one_release_with_a_deprecation_warning(name):
    with pytest.warns(DeprecationWarning, match=f"simout_plugins.{name} .*simout_plugins.nwb"):
        moved = getattr(simout_plugins, name)
    assert moved is getattr(nwb, name)


def test_an_unknown_name_is_an_attribute_error_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="no_such_thing"):
            simout_plugins.no_such_thing  # noqa: B018


def test_subpackage_apis_name_only_what_they_hold():
    for pkg in (nwb, read, write):
        assert [n for n in pkg.__all__ if not hasattr(pkg, n)] == []
