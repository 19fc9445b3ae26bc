"""Plots: loading what a plot needs from NWB or SONATA files (``load``) and drawing it with matplotlib (``draw``).

Used by ``simout plot`` and by the examples; matplotlib is imported only when something is drawn.
"""
