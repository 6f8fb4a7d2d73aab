"""A flat (double-array) trie of the pieces, walked with numpy over many positions at once.

The batch path (``batch.py``) needs every vocabulary piece occurring in a megabyte of text.
pyahocorasick finds them in C but hands each match to Python as a tuple, which costs more
than everything else together. Here the trie lives in three integer arrays and one walk
step advances *all* start positions by one byte with a few numpy operations:

* ``base[node] + byte`` is the slot of the child of ``node`` for ``byte``;
* the child exists iff ``check[slot] == node``;
* ``term[slot]`` is the piece id ending at that node, or -1.

The root is slot 0 and its children (every single byte is a piece) are slots 1..256, so
depth 1 is a plain table look-up. Text is given as integers with the value 256 as a
separator: no node has a child for 256, so no match ever crosses a separator.

Deliberately left out: the dynamic programme (``batch.py``) and anything per match in Python.

>>> pieces = [bytes([b]) for b in range(256)] + [b"ab"]
>>> trie = FlatTrie.build(pieces, range(len(pieces)))
>>> [(d, s.tolist(), i.tolist()) for d, s, i in trie.matches(np.array([97, 98, 256]))]
[(1, [0, 1], [97, 98]), (2, [0], [256])]
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np

SEPARATOR = 256  # a "byte" value that never continues a piece


class FlatTrie:
    """Double-array trie over byte strings; see the module docstring."""

    def __init__(self, base: np.ndarray, check: np.ndarray, term: np.ndarray, max_length: int) -> None:
        self.base = base
        self.check = check
        self.term = term
        self.max_length = max_length

    @classmethod
    def build(cls, pieces: Sequence[bytes], ids: Sequence[int]) -> "FlatTrie":
        """Build from pieces and their ids. Every single byte must be among the pieces."""
        children, terminal = _prefix_tree(pieces, ids)
        base_of: Dict[int, int] = {}
        slot_of = {0: 0}  # prefix-tree node -> slot; the root is slot 0
        used = np.zeros(2 * len(terminal) + 4096, dtype=bool)
        used[0] = True
        first_free = 1
        queue = [0]
        for node in queue:  # breadth-first: the queue grows while we iterate
            kids = children.get(node)
            if not kids:
                continue
            labels = sorted(kids)
            base = _free_base(used, labels, max(first_free, labels[0] + 1) - labels[0])
            if base + 257 > used.size:
                used = np.concatenate([used, np.zeros(used.size, dtype=bool)])
            base_of[slot_of[node]] = base
            for b in labels:
                used[base + b] = True
                slot_of[kids[b]] = base + b
                queue.append(kids[b])
            while used[first_free]:
                first_free += 1
        size = max(slot_of.values()) + 258  # room for base + 256 (the separator) everywhere
        base_arr = np.zeros(size, dtype=np.int64)
        check = np.full(size, -1, dtype=np.int64)
        term = np.full(size, -1, dtype=np.int64)
        for node, slot in slot_of.items():
            term[slot] = terminal[node]
        for slot, base in base_of.items():
            base_arr[slot] = base
        for node, kids in children.items():
            for child in kids.values():
                check[slot_of[child]] = slot_of[node]
        if base_of.get(0) != 1 or (term[1:257] < 0).any():
            raise ValueError("every single byte must be a piece")
        return cls(base_arr, check, term, max(len(p) for p in pieces))

    def matches(self, text: np.ndarray, stride: int = 1) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
        """For each depth ``d`` = 1, 2, ...: ``(d, starts, ids)`` of the pieces of length ``d``.

        ``text`` is an int64 array of byte values with ``SEPARATOR`` between chunks and at
        the end; the byte after index ``i`` is at ``i + stride`` (``batch.py`` stores lanes
        interleaved). ``starts`` come out ascending.
        """
        base, check, term = self.base, self.check, self.term
        starts = np.flatnonzero(text != SEPARATOR)
        node = text[starts] + 1  # root children: slot 1 + byte
        yield 1, starts, term[node]
        for depth in range(2, self.max_length + 1):
            child = base[node] + text[starts + (depth - 1) * stride]
            alive = check[child] == node
            starts = starts[alive]
            if not starts.size:
                return
            node = child[alive]
            ids = term[node]
            found = ids >= 0
            yield depth, starts[found], ids[found]


def _free_base(used: np.ndarray, labels: List[int], base: int) -> int:
    """Smallest base >= ``base`` with every ``used[base + label]`` free (past the end is free)."""
    if len(labels) == 1:
        slot = base + labels[0]
        while slot < used.size and used[slot]:
            slot += 1
        return slot - labels[0]
    span = 512
    while True:
        window = np.zeros(span, dtype=bool)
        for label in labels:
            taken = used[base + label : base + label + span]
            window[: taken.size] |= taken
        free = np.flatnonzero(~window)
        if free.size:
            return base + int(free[0])
        base += span


def _prefix_tree(pieces: Sequence[bytes], ids: Sequence[int]) -> Tuple[Dict[int, Dict[int, int]], List[int]]:
    """Children (node -> {byte: child}) and terminal ids (-1: none) of the pieces' prefix tree."""
    node_of: Dict[bytes, int] = {b"": 0}
    children: Dict[int, Dict[int, int]] = {}
    terminal = [-1]
    for piece in sorted(pieces):  # sorted: each prefix is met before its extensions
        parent = 0
        for end in range(1, len(piece) + 1):
            prefix = piece[:end]
            node = node_of.get(prefix)
            if node is None:
                node = node_of[prefix] = len(terminal)
                terminal.append(-1)
                children.setdefault(parent, {})[piece[end - 1]] = node
            parent = node
    for piece, piece_id in zip(pieces, ids):
        terminal[node_of[piece]] = piece_id
    return children, terminal
