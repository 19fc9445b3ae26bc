"""The file format: the ndx-simulation-output spec and types, the ragged-index vocabulary, the layout value object,
whole-column builders, ids, units, the NWB file skeleton helpers, provenance and the attribute names every layer shares.

The lowest layer of the package: it imports nothing from ``write``, ``read``, ``sonata``, ``plot`` or ``cli``.
"""
