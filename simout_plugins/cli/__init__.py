"""The ``simout`` command: ``info``, ``convert``, ``plot``, ``recover`` (one module per command, ``main`` parses)."""

from .app import main

__all__ = ["main"]
