"""A flat (double-array) trie of the pieces, walked with numpy over many positions at once.

The batch path (``lattice.py``) needs every vocabulary piece occurring in a megabyte of text.
pyahocorasick finds them in C but hands each match to Python as a tuple, which costs more
than everything else together. Here the trie lives in three integer arrays and one walk
step advances *all* start positions by one byte with a few numpy operations:

* ``base[node] + byte`` is the slot of the child of ``node`` for ``byte``;
* the child exists iff ``check[slot] == node``;
* ``term[slot]`` is the piece id ending at that node, or -1.

The root is slot 0 and its children (every single byte is a piece) are slots 1..256, so
depth 1 is a plain table look-up. Text is given as integers with the value 256 as a
separator: no node has a child for 256, so no match ever crosses a separator.

Deliberately left out: the dynamic programme (``lattice.py``) and anything per match in Python.

>>> pieces = [bytes([b]) for b in range(256)] + [b"ab"]
>>> trie = FlatTrie.build(pieces, range(len(pieces)))
>>> [(d, s.tolist(), i.tolist()) for d, s, i in trie.matches(np.array([97, 98, 256]))]
[(1, [0, 1], [97, 98]), (2, [0], [256])]
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

SEPARATOR = 256  # a "byte" value that never continues a piece
TAIL_RUNS = 48  # fewer runs than this left in a walk: followed to their ends in Python

Depth = Union[int, np.ndarray]  # one length, or (the last item of a walk) one per run


class FlatTrie:
    """Double-array trie over byte strings; see the module docstring."""

    def __init__(self, base: np.ndarray, check: np.ndarray, term: np.ndarray, max_length: int) -> None:
        self.base = base
        self.check = check.astype(np.int32)  # compared, never used as an index: half the traffic
        self.term = term.astype(np.int32)
        self.max_length = max_length
        # pairs[a * 257 + b]: slot of the node for bytes a, b (-1: none; b = 256 separates).
        first = np.repeat(np.arange(256), 257)
        second = np.tile(np.arange(257), 256)
        child = base[first + 1] + second
        pairs = np.where(check[child] == first + 1, child, -1)
        self.pairs = np.concatenate([pairs, np.full(257, -1)])  # a = 256: a separator
        # inner[a * 257 + b]: some piece has byte b right after byte a (never with a
        # separator). Where none does, no piece crosses the boundary between them.
        deep = np.flatnonzero(check >= 1)  # nodes of depth 2 and more; check[slot]: parent slot
        parent = check[deep]
        self.inner = np.zeros(257 * 257, dtype=bool)
        self.inner[(parent - base[check[parent]]) * 257 + deep - base[parent]] = True

    @classmethod
    def build(cls, pieces: Sequence[bytes], ids: Sequence[int]) -> "FlatTrie":
        """Build from pieces and their ids. Every single byte must be among the pieces."""
        parent, label, terminal, longest = _prefix_tree(pieces, ids)
        top = np.flatnonzero(parent[1:] == 0) + 1  # the root's children
        if top.size != 256 or (terminal.take(top) < 0).any():
            raise ValueError("every single byte must be a piece")
        nodes = terminal.size
        fan_out = np.bincount(parent[1:], minlength=nodes)
        base_of = np.zeros(nodes, dtype=np.int64)
        used = bytearray(nodes + 1024)
        # Nodes with several children, widest first, first-fit in pure Python (the root's
        # 256 children take slots 1..256); then every single-child node takes a free slot.
        order = np.argsort(parent[1:], kind="stable") + 1  # children, by parent
        ends = np.cumsum(fan_out)
        wide = np.flatnonzero(fan_out > 1)
        wide = wide[wide > 0]
        wide = wide.take(np.argsort(-fan_out.take(wide), kind="stable"))
        fans = fan_out.take(wide)
        child = np.repeat(ends.take(wide) - fans - (np.cumsum(fans) - fans), fans) + np.arange(int(fans.sum()))
        base_of[0] = 1
        used[1:257] = b"\x01" * 256
        bounds = np.zeros(fans.size + 1, dtype=np.int64)
        np.cumsum(fans, out=bounds[1:])
        base_of[wide] = _place_wide(used, label.take(order.take(child)).tolist(), bounds.tolist(), 257)
        single = np.flatnonzero(fan_out == 1)
        used_array = np.frombuffer(bytes(used), dtype=np.uint8)
        free = np.flatnonzero(used_array[257:] == 0) + 257
        if free.size < single.size:
            free = np.concatenate([free, np.arange(used_array.size, used_array.size + single.size)])
        base_of[single] = free[: single.size] - label[order][ends[single] - 1]
        slot = np.zeros(nodes, dtype=np.int64)
        slot[1:] = base_of[parent[1:]] + label[1:]
        size = int(max(slot.max(), base_of.max())) + 258  # base + 256 (the separator) stays inside
        base_arr = np.zeros(size, dtype=np.int64)
        check = np.full(size, -1, dtype=np.int64)
        term = np.full(size, -1, dtype=np.int64)
        base_arr[slot] = base_of
        check[slot[1:]] = slot[parent[1:]]
        term[slot] = terminal
        return cls(base_arr, check, term, longest)

    def matches(self, text: np.ndarray, stride: int = 1) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
        """For each depth ``d`` = 1, 2, ...: ``(d, starts, ids)`` of the pieces of length ``d``.

        ``text`` is an int64 array of byte values with ``SEPARATOR`` between chunks and at
        the end; the byte after index ``i`` is at ``i + stride`` (``layout.py`` stores lanes
        interleaved). ``starts`` come out ascending.
        """
        starts = np.flatnonzero(text != SEPARATOR)
        yield 1, starts, self.term[text[starts] + 1]  # the root's children: slot 1 + byte
        for depths, ends, nodes in self.walk(text, stride):
            for depth in np.unique(depths).tolist():
                ids = self.term[nodes]
                found = np.flatnonzero((ids >= 0) & (depths == depth))
                yield depth, ends[found] - depth * stride, ids[found]

    def matches_by_end(self, data: bytes) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every piece occurring in ``data`` as ``(inclusive end, length, id)`` arrays, by
        end and, at one end, longest first: the order an Aho-Corasick automaton reports
        them in, so the scalar decoders can run on this trie instead (``Engine.encode_chunks``).

        >>> pieces = [bytes([b]) for b in range(256)] + [b"ab"]
        >>> [a.tolist() for a in FlatTrie.build(pieces, range(257)).matches_by_end(b"abc")]
        [[0, 1, 1, 2], [1, 2, 1, 1], [97, 256, 98, 99]]
        """
        text = np.empty(len(data) + 1, dtype=np.int64)
        text[:-1] = np.frombuffer(data, dtype=np.uint8)
        text[-1] = SEPARATOR
        found = list(self.matches(text))
        lengths = np.concatenate([np.full(starts.size, depth, dtype=np.int64) for depth, starts, _ in found])
        ends = np.concatenate([starts for _, starts, _ in found]) + lengths - 1
        ids = np.concatenate([ids for _, _, ids in found])
        order = np.lexsort((-lengths, ends))
        return ends.take(order), lengths.take(order), ids.take(order)

    def walk(
        self, text: np.ndarray, stride: int = 1, pairs: Optional[np.ndarray] = None
    ) -> Iterator[Tuple[Depth, np.ndarray, np.ndarray]]:
        """For each depth ``d`` = 2, 3, ...: ``(d, ends, nodes)`` for every run of ``d`` bytes
        that leads from the root to a node (a piece or a prefix of one): ``ends`` is the
        index just past the run (its start plus ``d * stride``), ascending; ``term[nodes]``
        says which runs are pieces. Same ``text`` and ``stride`` as ``matches``; ``pairs``,
        if given, is ``text[:-stride] * 257 + text[stride:]``.

        Once fewer than ``TAIL_RUNS`` runs go on, they are followed to their ends in Python
        and come as one last item, whose ``d`` is an array (each run's length), and whose
        ``ends`` are in no order: a few runs of spaces in code go 30 bytes deep, and 30
        rounds of numpy calls on a handful of entries cost more than the Python steps.

        Masks are applied as ``flatnonzero`` then ``take``: numpy's boolean indexing costs
        several times more on these unpredictable masks."""
        base, check = self.base, self.check
        # Depth 2 from a table over byte pairs, at every position at once (a pair with a
        # separator has no node): one look-up instead of a base/check step.
        child = self.pairs.take(text[:-stride] * 257 + text[stride:] if pairs is None else pairs)
        kept = (child >= 0).nonzero()[0]
        ends, node = kept + 2 * stride, child.take(kept)
        for depth in range(2, self.max_length + 1):
            if ends.size < TAIL_RUNS:
                if ends.size:
                    yield self._tail(text, stride, depth, ends, node)
                return
            yield depth, ends, node
            child = base.take(node) + text.take(ends)
            kept = (check.take(child) == node).nonzero()[0]  # flatnonzero, without its Python wrapper
            ends, node = ends.take(kept) + stride, child.take(kept)

    def _tail(self, text: np.ndarray, stride: int, depth: int, ends: np.ndarray, nodes: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The runs of ``depth`` bytes (``ends``, ``nodes``) and all their longer runs, walked
        in Python: the last item of ``walk``."""
        base, check, letters = self.base.data, self.check.data, np.ascontiguousarray(text).data
        found: List[Tuple[int, int, int]] = []
        append = found.append
        for end, node in zip(ends.tolist(), nodes.tolist()):
            length = depth
            while True:
                append((length, end, node))
                child = base[node] + letters[end]
                if check[child] != node:
                    break
                node, end, length = child, end + stride, length + 1
        lengths, run_ends, run_nodes = np.array(found, dtype=np.int64).T
        return lengths, run_ends, run_nodes

    def _follow(
        self, text: np.ndarray, stride: int, depth: int, cursors: np.ndarray, nodes: np.ndarray, lengths: np.ndarray
    ) -> List[int]:
        """The nodes of pieces whose first ``depth`` bytes led to ``nodes``, the last at
        ``cursors``, walked on in Python to their ``lengths``."""
        base, letters = self.base.data, np.ascontiguousarray(text).data
        out = []
        for cursor, node, length in zip(cursors.tolist(), nodes.tolist(), lengths.tolist()):
            for _ in range(length - depth):
                cursor += stride
                node = base[node] + letters[cursor]
            out.append(node)
        return out

    def piece_ids(self, text: np.ndarray, starts: np.ndarray, lengths: np.ndarray, stride: int = 1) -> np.ndarray:
        """Ids of the pieces ``text[start : start + length]`` (every one must be a piece),
        walked all together: sorted by length, the longer ones go on walking."""
        order = np.argsort(lengths.astype(np.uint8), kind="stable")  # a radix sort
        cursor, lengths = starts.take(order), lengths.take(order)
        node = text.take(cursor) + 1
        for depth in range(1, int(lengths[-1]) if lengths.size else 0):
            first = int(np.searchsorted(lengths, depth, side="right"))
            if node.size - first < TAIL_RUNS:  # the few longest: in Python (see ``walk``)
                node[first:] = self._follow(text, stride, depth, cursor[first:], node[first:], lengths[first:])
                break
            cursor[first:] += stride
            node[first:] = self.base.take(node[first:]) + text.take(cursor[first:])
        ids = np.empty_like(node)
        ids[order] = self.term.take(node)
        return ids


PLACE_WINDOW, PLACE_TRIES = 256, 16  # first fit looks this far behind the frontier, this many times


def _place_wide(used: bytearray, labels: List[int], bounds: List[int], frontier: int) -> List[int]:
    """The base of each node whose children's ``labels`` are ``labels[bounds[k] :
    bounds[k + 1]]`` (ascending), such that their slots (base + label) are free: first fit
    over the free slots at most ``PLACE_WINDOW`` behind the frontier (found with
    ``bytearray.find``, at most ``PLACE_TRIES`` of them), else past it. The holes left are
    filled by the single-child nodes afterwards. A wider search packs the slots a little
    tighter (366k slots instead of 404k for 160k pieces) at twice the time, which is part
    of a big model's first use."""
    bases: List[int] = []
    append, find = bases.append, used.find
    for a, b in zip(bounds, bounds[1:]):
        first, rest = labels[a], labels[a + 1 : b]
        low = frontier - PLACE_WINDOW
        slot = find(0, low if low > first else first + 1)
        tries = PLACE_TRIES
        while 0 <= slot < frontier:
            offset = slot - first
            for label in rest:  # a plain loop: any() over a generator cost 3x more here
                if used[offset + label]:
                    break
            else:
                break
            tries -= 1
            slot = find(0, slot + 1) if tries else -1
        base = slot - first if 0 <= slot < frontier else frontier
        top = base + rest[-1]
        if top + 257 > len(used):
            used.extend(bytes(top + 257))
        used[base + first] = 1
        for label in rest:
            used[base + label] = 1
        if top >= frontier:
            frontier = top + 1
        append(base)
    return bases


def _prefix_tree(pieces: Sequence[bytes], ids: Sequence[int]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The pieces' prefix tree as arrays over its nodes (0 is the root): ``parent``,
    ``label`` (the byte leading to the node) and ``terminal`` (piece id, or -1); and the
    longest piece's length.

    Vectorised over the sorted pieces: piece ``i`` shares its first ``lcp[i]`` bytes with
    piece ``i - 1`` and opens one node per byte after those. The node of a shared prefix
    of length ``v`` was opened by the last piece before ``i`` that shared fewer than ``v``
    bytes with its predecessor (one search per length, not one per piece).
    """
    count = len(pieces)
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=count)
    depth = int(lengths.max())
    # Fixed-width rows, zero-padded: sorting and comparing them is numpy's. (A piece and
    # the same piece with trailing zero bytes compare equal; they share all their nodes
    # anyway, and the lengths tell them apart.)
    padded = np.array(pieces, dtype=f"S{depth}")
    order = np.argsort(padded, kind="stable")
    rows = padded.take(order).view(np.uint8).reshape(count, depth)
    lengths = lengths.take(order)
    lcp = np.zeros(count, dtype=np.int64)
    if count > 1:
        differs = rows[1:] != rows[:-1]
        first_difference = np.where(differs.any(axis=1), differs.argmax(axis=1), depth)
        lcp[1:] = np.minimum(first_difference, np.minimum(lengths[1:], lengths[:-1]))
    opened = lengths - lcp  # nodes each piece opens, for its bytes lcp .. length - 1
    first_node = np.cumsum(opened) - opened + 1  # node 0 is the root
    total = int(first_node[-1] + opened[-1])

    def opened_by(prefix: np.ndarray, before: np.ndarray) -> np.ndarray:
        """The node of each piece ``before[k]``'s prefix of length ``prefix[k]`` (> 0), which
        some piece at or before it opened."""
        node = np.zeros(prefix.size, dtype=np.int64)
        for v in np.flatnonzero(np.bincount(prefix)).tolist():  # the lengths present
            which = np.flatnonzero(prefix == v)
            openers = np.flatnonzero(lcp < v)  # pieces that opened their prefix of length v
            owner = openers.take(np.searchsorted(openers, before.take(which), side="right") - 1)
            node[which] = first_node.take(owner) + (v - 1 - lcp.take(owner))
        return node

    piece = np.repeat(np.arange(count), opened)
    level = np.arange(total - 1) - np.repeat(first_node - 1 - lcp, opened)  # byte index of each new node
    parent = np.zeros(total, dtype=np.int64)
    parent[1:] = np.arange(total - 1)  # the node before it, in the same piece...
    heads = first_node.take(np.flatnonzero((opened > 0) & (lcp > 0)))  # ...except a piece's first
    head_piece = piece.take(heads - 1)
    parent[heads] = opened_by(lcp.take(head_piece), head_piece)
    parent[first_node.take(np.flatnonzero((opened > 0) & (lcp == 0)))] = 0
    label = np.zeros(total, dtype=np.int64)
    label[1:] = rows[piece, level]
    terminal = np.full(total, -1, dtype=np.int64)
    own = opened > 0
    node_of = np.empty(count, dtype=np.int64)
    node_of[own] = first_node[own] + opened[own] - 1
    shared = np.flatnonzero(~own)
    node_of[shared] = opened_by(lengths.take(shared), shared)
    terminal[node_of] = np.asarray(ids, dtype=np.int64).take(order)
    return parent, label, terminal, depth
