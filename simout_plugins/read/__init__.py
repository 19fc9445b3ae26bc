"""Reading: ``open_report`` and the h5py-level reader (``reader``), lazy cell tables (``tables``) and the structural
checks every consumer of a file applies (``validate``). Builds on :mod:`simout_plugins.nwb`; never imports the
write side.
"""
