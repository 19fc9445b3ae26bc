"""The one place the ndx-simulation-output schema is edited.

Run ``python -m simout_plugins.nwb._spec_source`` to regenerate ``simout_plugins/nwb/spec/*.yaml``; a test fails
when the committed YAML drifts from what this module generates. The types are structurally identical to
ndx-simulation-output 0.2.6 so that files written by it stay readable.
"""

from __future__ import annotations

from pathlib import Path

from pynwb.spec import NWBDatasetSpec, NWBGroupSpec, NWBLinkSpec, NWBNamespaceBuilder

NAMESPACE = "ndx-simulation-output"
VERSION = "0.3.0"
SPEC_DIR = Path(__file__).parent / "spec"


def build_specs() -> tuple[NWBNamespaceBuilder, list[NWBGroupSpec]]:
    """Return the namespace builder and the three type specs (Compartments, CompartmentSeries, SimulationMetaData)."""
    ns_builder = NWBNamespaceBuilder(
        doc="Holds structures for recording data from multiple compartments of multiple neurons in a single TimeSeries",
        name=NAMESPACE,
        version=VERSION,
        author=["Ben Dichter", "simout_plugins developers"],
        contact=["ben.dichter@gmail.com"],
    )
    # NOTE: 0.2.x listed five core types; including the whole core namespace (as ndx-template does) lets pynwb's
    # validator resolve NWBFile when it validates a file against this namespace.
    ns_builder.include_namespace("core")

    compartments = NWBGroupSpec(
        neurodata_type_def="Compartments",
        neurodata_type_inc="DynamicTable",
        default_name="compartments",
        doc="Table of the recorded places: row i is one cell (its id is the simulator's node id or gid); the ragged "
        "columns list that cell's recorded compartments, in the column order of the CompartmentSeries data.",
        datasets=[
            NWBDatasetSpec(
                name="number",
                neurodata_type_inc="VectorData",
                dtype="int",
                doc="Compartment (segment/element) id of each recorded compartment, in data column order.",
            ),
            NWBDatasetSpec(
                name="number_index",
                neurodata_type_inc="VectorIndex",
                doc="Index into number: end offset of each cell's compartments.",
                quantity="?",
            ),
            NWBDatasetSpec(
                name="position",
                neurodata_type_inc="VectorData",
                dtype="float",
                doc="Position of the recording within its section: 0 is the end closest to the soma, 1 the far end.",
                quantity="?",
            ),
            NWBDatasetSpec(
                name="position_index",
                neurodata_type_inc="VectorIndex",
                doc="Index into position: end offset of each cell's compartments.",
                quantity="?",
            ),
            NWBDatasetSpec(
                name="label",
                neurodata_type_inc="VectorData",
                dtype="text",
                doc="Label of each recorded compartment (e.g. the section name).",
                quantity="?",
            ),
            NWBDatasetSpec(
                name="label_index",
                neurodata_type_inc="VectorIndex",
                doc="Index into label: end offset of each cell's compartments.",
                quantity="?",
            ),
        ],
    )
    series = NWBGroupSpec(
        neurodata_type_def="CompartmentSeries",
        neurodata_type_inc="TimeSeries",
        doc="Continuous data recorded from cell compartments: data has shape (n_times, n_compartments), column j is "
        "the j-th compartment of the linked Compartments table in row order.",
        links=[
            NWBLinkSpec(
                name="compartments",
                target_type="Compartments",
                doc="Meta-data about the compartments in this CompartmentSeries.",
                quantity="?",
            )
        ],
    )
    metadata = NWBGroupSpec(
        neurodata_type_def="SimulationMetaData",
        neurodata_type_inc="LabMetaData",
        default_name="simulation",
        doc="Group that holds metadata for a simulation (the 0.2.x placement of the Compartments table).",
        groups=[
            NWBGroupSpec(
                neurodata_type_inc="Compartments",
                default_name="compartments",
                doc="Table that holds information about what places are being recorded.",
                quantity="?",
            )
        ],
    )
    return ns_builder, [compartments, series, metadata]


def export(output_dir: Path = SPEC_DIR) -> None:
    """Write ``ndx-simulation-output.namespace.yaml`` and ``.extensions.yaml`` into ``output_dir``."""
    from pynwb.spec import export_spec

    ns_builder, specs = build_specs()
    export_spec(ns_builder, specs, str(output_dir))


if __name__ == "__main__":
    export()
