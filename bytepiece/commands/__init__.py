"""Subcommands of the ``bytepiece`` CLI, one module each (see ``bytepiece/cli.py``)."""

from . import decode, encode, inspect, train

COMMANDS = [encode, decode, inspect, train]
