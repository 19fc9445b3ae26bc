"""Plots: loading what a plot needs from NWB or SONATA files (``load``), drawing it with matplotlib (``draw``) and
both for one file, as ``simout plot`` does (``render``).

Used by ``simout plot`` and by the examples; matplotlib is imported only when something is drawn.
"""
