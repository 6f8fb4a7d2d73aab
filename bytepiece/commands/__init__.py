"""Subcommands of the ``bytepiece`` CLI, one module each (see ``bytepiece/cli.py``)."""

from . import decode, encode, encode_corpus, extend, inspect, show, shuffle, train

COMMANDS = [encode, decode, inspect, train, encode_corpus, shuffle, extend, show]
