"""Subcommands of the ``bytepiece`` CLI, one module each (see ``bytepiece/cli.py``)."""

from . import decode, encode, inspect

COMMANDS = [encode, decode, inspect]
