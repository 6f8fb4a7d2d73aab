"""Subcommands of the ``bytepiece`` CLI, one module each (see ``bytepiece/cli.py``)."""

from . import decode, encode, encode_corpus, inspect, shuffle, train

COMMANDS = [encode, decode, inspect, train, encode_corpus, shuffle]
