"""Attribute names this project writes into its files: the one place every layer takes them from.

They are part of the file format (readers, ``simout info`` and ``simout recover`` depend on them), so they live in
the lowest layer, beside the schema, and the writer, the reader and the tools import them from here.
"""

#: Attribute of a series' ``data``: how many time steps of it hold valid samples (a partial file's flushed steps).
STEPS_WRITTEN_ATTR = "simout_steps_written"
#: Attribute set on a trimmed series' data by ``simout recover``: its length (steps allocated) before recovery.
STEPS_ALLOCATED_ATTR = "simout_steps_allocated"
#: Attribute of a cell table (Compartments, Units) saying how its rows are ordered: "population" = by
#: (population, node_id), so each population is one contiguous row range (readers find it by bisection).
ROW_ORDER_ATTR = "simout_row_order"

__all__ = ["STEPS_WRITTEN_ATTR", "STEPS_ALLOCATED_ATTR", "ROW_ORDER_ATTR"]
