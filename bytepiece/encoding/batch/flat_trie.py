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

from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

SEPARATOR = 256  # a "byte" value that never continues a piece
TAIL_RUNS = 48  # fewer runs than this left in a walk: followed to their ends in Python
BLOCK = 1 << 20  # nodes or slots per step where a build handles millions (small temporaries)

Depth = Union[int, np.ndarray]  # one length, or (the last item of a walk) one per run


class FlatTrie:
    """Double-array trie over byte strings; see the module docstring."""

    def __init__(self, base: np.ndarray, check: np.ndarray, term: np.ndarray, max_length: int) -> None:
        # int32: half the memory traffic of int64; the walk adds int64 bytes to base, so
        # its slots come out int64 (numpy's promotion) without a conversion of its own
        self.base = base.astype(np.int32, copy=False)
        self.check = check.astype(np.int32, copy=False)
        self.term = term.astype(np.int32, copy=False)
        self.max_length = max_length
        # pairs[a * 257 + b]: slot of the node for bytes a, b (-1: none; b = 256 separates).
        first = np.repeat(np.arange(256), 257)
        second = np.tile(np.arange(257), 256)
        child = base[first + 1] + second
        pairs = np.where(check[child] == first + 1, child, -1)
        self.pairs = np.concatenate([pairs, np.full(257, -1)])  # a = 256: a separator
        # inner[a * 257 + b]: some piece has byte b right after byte a (never with a
        # separator). Where none does, no piece crosses the boundary between them.
        # By blocks of slots: a pruning worker's trie has millions (temporaries stay small).
        self.inner = np.zeros(257 * 257, dtype=bool)
        for low in range(0, check.size, BLOCK):
            deep = np.flatnonzero(check[low : low + BLOCK] >= 1) + low  # depth 2 and more
            parent = self.check.take(deep)  # check[slot]: the parent's slot
            self.inner[(parent - self.base.take(self.check.take(parent))) * 257 + deep - self.base.take(parent)] = True

    @classmethod
    def build(cls, pieces: Sequence[bytes], ids: Sequence[int]) -> "FlatTrie":
        """Build from pieces and their ids. Every single byte must be among the pieces.

        Nodes with several children are placed first (``_place_wide``), then every node
        with one child puts it in the lowest free slot. Slots, bases and ids are int32:
        a trie too big for them is refused with a ValueError.
        """
        parent, label, terminal, longest = _prefix_tree(pieces, ids)
        nodes = terminal.size
        # Nodes are numbered depth first, so a node's first child (its smallest byte) is
        # the next node; the others are the nodes whose parent is not the node before.
        follows = parent[1:] == np.arange(nodes - 1, dtype=np.int32)  # follows[n]: n + 1 is n's child
        later = np.flatnonzero(~follows) + 1
        later_parent = parent.take(later)
        top = np.concatenate([[1], later.take(np.flatnonzero(later_parent == 0))])  # the root's children
        if top.size != 256 or (terminal.take(top) < 0).any():
            raise ValueError("every single byte must be a piece")
        inner = np.flatnonzero(later_parent > 0)
        later, later_parent = later.take(inner), later_parent.take(inner)
        del inner
        wide, first, deltas, starts = _wide_nodes(label, later, later_parent)
        del later, later_parent
        used = np.zeros(nodes + 1024, dtype=bool)  # grown by _place_wide if need be
        used[: 257] = True  # the root at 0, its children at 1 + byte
        base_of = np.zeros(nodes, dtype=np.int32)
        base_of[0] = 1
        placed, used = _place_wide(first, deltas, starts, used)
        _check_index(int(placed.max(initial=0)) + 258)
        base_of[wide] = placed
        del first, deltas, starts, placed
        # Every node with one child: its child takes the lowest free slot (the holes, then
        # past the last used slot), by blocks of nodes.
        follows[0] = False  # the root
        follows[wide] = False
        del wide
        end = used.size - int(used[::-1].argmax())  # past the last used slot
        free = np.append(np.flatnonzero(~used[257:end]) + 257, end)
        del used
        hole_count, handed = free.size - 1, 0
        _check_index(end + max(0, int(np.count_nonzero(follows)) - hole_count) + 258)
        for low in range(0, nodes, BLOCK):
            single = np.flatnonzero(follows[low : low + BLOCK]) + low
            rank = np.arange(handed, handed + single.size)
            handed += single.size
            base_of[single] = free.take(np.minimum(rank, hole_count)) + np.maximum(rank - hole_count, 0) - label.take(single + 1)
        del follows, free
        slot = np.zeros(nodes, dtype=np.int32)  # the root's is 0
        for low in range(1, nodes, BLOCK):
            slot[low : low + BLOCK] = base_of.take(parent[low : low + BLOCK]) + label[low : low + BLOCK]
        del label
        size = _check_index(int(max(slot.max(), base_of.max())) + 258)  # base + 256 (the separator) stays inside
        # One array at a time, each node array freed once used: the lower peak.
        term = _scatter(size, slot, lambda low, high: terminal[low:high], -1)
        del terminal
        base = _scatter(size, slot, lambda low, high: base_of[low:high], 0)
        del base_of
        check = _scatter(size, slot, lambda low, high: slot.take(parent[low:high]), -1)
        check[0] = -1  # the root has no parent
        del slot, parent
        return cls(base, check, term, longest)

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
        found: List[int] = []  # (length, end, node) after each other: a flat list of ints
        extend = found.extend  # makes an array ~3x faster than a list of tuples
        for end, node in zip(ends.tolist(), nodes.tolist()):
            length = depth
            while True:
                extend((length, end, node))
                child = base[node] + letters[end]
                if check[child] != node:
                    break
                node, end, length = child, end + stride, length + 1
        lengths, run_ends, run_nodes = np.array(found, dtype=np.int64).reshape(-1, 3).T
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


PLACE_BATCH = 1024  # wide nodes placed together
PLACE_SPREAD = 3  # their first children proposed this many times their fan apart
PLACE_WINDOW = 32768  # proposals start this far behind the frontier
PLACE_CHOICES = 3  # free slots each node tries in one batch
PLACE_TRIES = 6  # a node rejected this often gets slots of its own past the frontier
INDEX_LIMIT = 2**31  # slots, bases and ids are int32


def _check_index(value: int) -> int:
    """``value``, if an int32 holds it: slots, bases and ids of the trie are int32.

    >>> _check_index(2**31)
    Traceback (most recent call last):
    ValueError: the flat trie needs 2147483648 slots or ids: more than int32 indices reach
    """
    if value >= INDEX_LIMIT:
        raise ValueError(f"the flat trie needs {value} slots or ids: more than int32 indices reach")
    return value


def _scatter(size: int, slot: np.ndarray, value_of: Callable[[int, int], np.ndarray], fill: int) -> np.ndarray:
    """An int32 array of ``size`` holding, at ``slot[n]``, node ``n``'s value (nodes
    ``low`` to ``high`` have ``value_of(low, high)``), and ``fill`` elsewhere; by blocks of
    ``BLOCK`` nodes, so that the index numpy makes of them stays small.

    >>> _scatter(5, np.array([0, 3, 1]), lambda low, high: np.arange(low, high) * 10, -1).tolist()
    [0, 20, -1, 10, -1]
    """
    out = np.full(size, fill, dtype=np.int32)
    for low in range(0, slot.size, BLOCK):
        out[slot[low : low + BLOCK]] = value_of(low, min(low + BLOCK, slot.size))
    return out


def _wide_nodes(label: np.ndarray, later: np.ndarray, later_parent: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The nodes with several children, widest first, as ``_place_wide`` takes them: the
    nodes, their first child's byte, and their children's bytes less that one (node
    ``k``'s in ``deltas[starts[k] : starts[k + 1]]``, 0 first). ``later`` are the children
    that are not their parent's first (which is the node right after it), with their
    parents ``later_parent`` (the root's left out).

    >>> label = np.frombuffer(b"\\0abxc", dtype=np.uint8)  # a, ab, ax, c
    >>> [a.tolist() for a in _wide_nodes(label, np.array([3]), np.array([1], dtype=np.int32))]
    [[1], [98], [0, 22], [0, 2]]
    """
    by_parent = np.argsort(later_parent, kind="stable")
    later, later_parent = later.take(by_parent), later_parent.take(by_parent)
    # the runs of equal parents (np.unique would sort again, and imports numpy.ma)
    run = np.flatnonzero(np.diff(later_parent, prepend=-1, append=-1))
    wide, more = later_parent.take(run[:-1]), np.diff(run)
    fans = more + 1
    rank = np.argsort(-fans, kind="stable")
    wide, fans = wide.take(rank), fans.take(rank)
    first = label.take(wide + 1).astype(np.int64)
    starts = np.zeros(wide.size + 1, dtype=np.int64)
    np.cumsum(fans, out=starts[1:])
    group = np.zeros(wide.size + 1, dtype=np.int64)  # where each wide node's later children are
    np.cumsum(more, out=group[1:])
    deltas = np.zeros(int(starts[-1]), dtype=np.int64)
    mask = np.ones(deltas.size, dtype=bool)
    mask[starts[:-1]] = False
    at = np.flatnonzero(mask)  # the later children's places, node by node
    taken = np.repeat(group.take(rank) - (starts[:-1] + 1), more.take(rank)) + at
    deltas[at] = label.take(later.take(taken)).astype(np.int64) - np.repeat(first, fans - 1)
    return wide, first, deltas, starts


def _place_wide(first: np.ndarray, deltas: np.ndarray, starts: np.ndarray, used: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Bases for the nodes with several children, and ``used`` with their children's slots
    set (grown if need be). Node ``k``'s first child has byte ``first[k]`` and its children
    lie ``deltas[starts[k] : starts[k + 1]]`` (0 first) past it; nodes come widest first.

    A first fit, vectorised over batches of ``PLACE_BATCH`` nodes: each node of a batch
    proposes a free slot for its first child, from ``PLACE_WINDOW`` behind the frontier
    on, ``PLACE_SPREAD`` times its fan after the previous node's; it is accepted if all its
    children's slots are free and no node ranked before it in the batch claims one of them.
    The rejected ones go on with the next batch, and after ``PLACE_TRIES`` rejections get
    slots nobody else claims, past the frontier. A sequential first fit packs about as
    tight but is a Python loop over the nodes (0.15 s for 160k pieces, seconds for 838k).

    >>> used = np.zeros(600, dtype=bool); used[:257] = True
    >>> bases, used = _place_wide(np.array([97, 0]), np.array([0, 1, 0, 255]), np.array([0, 2, 4]), used)
    >>> bases.tolist(), np.flatnonzero(used[257:]).tolist()
    ([160, 263], [0, 1, 6, 261])
    """
    count = first.size
    fans = np.diff(starts)
    spans = np.maximum.reduceat(deltas, starts[:-1]) + 1 if count else fans
    bases = np.zeros(count, dtype=np.int64)
    rejected = np.zeros(count, dtype=np.int8)
    carried = np.zeros(0, dtype=np.int64)
    frontier, new = 257, 0  # every slot from the frontier on is free
    while carried.size or new < count:
        fresh = min(count, new + max(0, PLACE_BATCH - carried.size))
        pending = np.concatenate([carried, np.arange(new, fresh)])  # by rank: carried ones first
        new = fresh
        tired = rejected.take(pending) >= PLACE_TRIES
        pending = np.concatenate([pending[tired], pending[~tired]])  # ranked first: win any claim
        stale = int(tired.sum())
        fan = fans.take(pending)
        low = max(257, frontier - PLACE_WINDOW)
        free = np.append(np.flatnonzero(~used[low:frontier]) + low, frontier)  # all free past it
        step = np.ceil(fan * PLACE_SPREAD).astype(np.int64)
        at = np.cumsum(step) - step  # index among the free slots
        holes = free.size - 1
        at = at + np.arange(PLACE_CHOICES)[:, None]  # each node's next free slots, row by row
        anchors = free.take(np.minimum(at, holes)) + np.maximum(at - holes, 0)
        anchor = anchors[0]
        if stale:  # first past the frontier, one after another
            span = spans.take(pending[:stale])
            anchor[:stale] = frontier + np.cumsum(span) - span
        claim_start = np.cumsum(fan) - fan
        claimant = np.repeat(np.arange(pending.size), fan)
        offset = deltas.take(np.repeat(starts.take(pending) - claim_start, fan) + np.arange(claimant.size))
        slots = anchors[:, claimant] + offset
        top = int(slots.max()) + 258
        if top > used.size:
            used = np.concatenate([used, np.zeros(max(top - used.size, used.size // 2), dtype=bool)])
        fitting = np.logical_and.reduceat(~used.take(slots), claim_start, axis=1)
        choice = fitting.argmax(axis=0)  # the first of its slots where a node fits
        columns = np.arange(pending.size)
        fits = fitting[choice, columns]
        anchor = anchors[choice, columns]
        if stale:
            anchor[:stale] = anchors[0, :stale]
            fits[:stale] = True
        slot = anchor.take(claimant) + offset
        # among the nodes that fit, a slot claimed twice goes to the one ranked first
        low = int(slot.min())
        owner = np.full(top - low, pending.size, dtype=np.int64)
        valid = np.flatnonzero(fits.take(claimant))
        np.minimum.at(owner, slot.take(valid) - low, claimant.take(valid))
        won = np.logical_and.reduceat(owner.take(slot - low) == claimant, claim_start)
        accepted = np.flatnonzero(won)
        nodes = pending.take(accepted)
        bases[nodes] = anchor.take(accepted) - first.take(nodes)
        taken = slot.take(np.flatnonzero(won.take(claimant)))
        used[taken] = True
        if taken.size:
            frontier = max(frontier, int(taken.max()) + 1)
        carried = pending.take(np.flatnonzero(~won))
        rejected[carried] += 1
    return bases, used


def _prefix_tree(pieces: Sequence[bytes], ids: Sequence[int]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The pieces' prefix tree as arrays over its nodes (0 is the root), numbered depth
    first in byte order: ``parent`` (int32), ``label`` (the byte leading to the node,
    uint8) and ``terminal`` (piece id, or -1; int32); and the longest piece's length.

    Vectorised over the sorted pieces: piece ``i`` shares its first ``lcp[i]`` bytes with
    piece ``i - 1`` and opens one node per byte after those. The node of a shared prefix
    of length ``v`` was opened by the last piece before ``i`` that shared fewer than ``v``
    bytes with its predecessor (one search per length, not one per piece).

    >>> parent, label, terminal, longest = _prefix_tree([b"b", b"ab", b"a"], [0, 1, 2])
    >>> parent.tolist(), bytes(label[1:]), terminal.tolist(), longest
    ([0, 0, 1, 0], b'abb', [-1, 2, 1, 0], 2)
    """
    count = len(pieces)
    lengths = np.fromiter(map(len, pieces), dtype=np.int32, count=count)
    depth = int(lengths.max())
    # Fixed-width rows, zero-padded: sorting and comparing them is numpy's. A piece and
    # the same piece with trailing zero bytes have equal rows: the length, as second
    # key, puts the shorter (its prefix) first.
    padded = np.array(pieces, dtype=f"S{depth}")
    order = np.lexsort((lengths, padded))
    rows = padded.take(order).view(np.uint8).reshape(count, depth)
    del padded
    lengths = lengths.take(order)
    lcp = np.zeros(count, dtype=np.int32)
    if count > 1:
        differs = rows[1:] != rows[:-1]
        first_difference = differs.argmax(axis=1)  # 0 also where the rows are equal:
        first_difference[~differs[np.arange(count - 1), first_difference]] = depth
        del differs
        lcp[1:] = np.minimum(first_difference, np.minimum(lengths[1:], lengths[:-1]))
        del first_difference
    opened = lengths - lcp  # nodes each piece opens, for its bytes lcp .. length - 1
    first_node = np.cumsum(opened, dtype=np.int64) - opened + 1  # node 0 is the root
    total = _check_index(int(first_node[-1] + opened[-1]))

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

    # The new nodes' bytes, piece by piece: row i from byte lcp[i] to its end (int32
    # positions: refused if the rows hold more bytes).
    _check_index(count * depth)
    label = np.zeros(total, dtype=np.uint8)
    row_start = np.arange(count, dtype=np.int32) * np.int32(depth) + lcp
    at = np.repeat(row_start - (first_node - 1).astype(np.int32), opened)
    at += np.arange(total - 1, dtype=np.int32)
    del row_start
    label[1:] = rows.reshape(-1).take(at)
    del rows, at
    parent = np.arange(-1, total - 1, dtype=np.int32)  # the node before it, in the same piece...
    parent[0] = 0
    heads = np.flatnonzero((opened > 0) & (lcp > 0))  # ...except a piece's first
    parent[first_node.take(heads)] = opened_by(lcp.take(heads), heads)
    parent[first_node.take(np.flatnonzero((opened > 0) & (lcp == 0)))] = 0
    del heads
    terminal = np.full(total, -1, dtype=np.int32)
    own = opened > 0
    node_of = np.empty(count, dtype=np.int64)
    node_of[own] = first_node[own] + opened[own] - 1
    shared = np.flatnonzero(~own)
    node_of[shared] = opened_by(lengths.take(shared), shared)
    values = np.asarray(ids, dtype=np.int64)
    if values.size and (int(values.min()) < 0 or _check_index(int(values.max())) < 0):
        raise ValueError("piece ids must not be negative")
    terminal[node_of] = values.take(order)
    return parent, label, terminal, depth
