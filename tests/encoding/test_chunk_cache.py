"""The chunk cache: cached Viterbi ids are the decoder's, the bound holds, threads share it
safely, pickles do not carry it, and sampling never goes through it."""

from __future__ import annotations

import pickle
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece import Tokenizer
from bytepiece.encoding.chunk_cache import ENTRY_OVERHEAD, ChunkCache
from bytepiece.encoding.engine import BATCH_MIN_BYTES, Engine
from bytepiece.normalization import split_chunks

# Lines as code repeats them, and a few that differ by one byte.
LINES = ["    }", "", "import os", "    return x", "  return x", "}", "\t// 分词", "def f():", "x = 1 + 2", "émoji 🙂"]


@pytest.fixture(scope="module")
def engines(tok80k):
    """The 80k model with the cache (default bounds) and without it."""
    return Engine(tok80k.model), Engine(tok80k.model, cache_bytes=0)


def uncached_ids(engine: Engine, data: bytes):
    return [i for chunk in split_chunks(data) for i in engine.decode_chunk(chunk)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LINES), st.sampled_from(["\n", "\n\n", "\r\n"])), min_size=1, max_size=40))
def test_cached_ids_are_the_decoders(engines, lines):
    cached, plain = engines
    data = "".join(line + end for line, end in lines).encode()
    assert len(data) < BATCH_MIN_BYTES  # the scalar path, where the cache is
    expected = uncached_ids(plain, data)
    hits = cached.chunk_cache.hits
    assert cached.encode_utf8(data) == expected  # some chunks from the cache, some decoded
    assert cached.encode_utf8(data) == expected  # every short chunk from the cache now
    assert cached.chunk_cache.hits >= hits + len(split_chunks(data))
    assert plain.encode_utf8(data) == expected and len(plain.chunk_cache) == 0


def test_a_cached_entry_is_what_is_returned(tok80k):
    # A wrong value in the cache must show in the ids: the ids come from it, not from a decoder.
    engine = Engine(tok80k.model)
    engine.chunk_cache.put(b"    }\n", [7, 7, 7])
    assert engine.encode_utf8(b"    }\n") == [7, 7, 7]


def test_a_chunk_repeated_within_a_document_is_decoded_once(tok80k):
    engine = Engine(tok80k.model)
    decoded = []
    decode = engine.decode_chunk
    engine.decode_chunk = lambda chunk, *a, **k: decoded.append(bytes(chunk)) or decode(chunk, *a, **k)  # type: ignore[method-assign]
    text = b"    }\n}\n    }\n\n    }\n" + b"x" * 200 + b"\n" + b"x" * 200 + b"\n"
    assert engine.encode_utf8(text) == uncached_ids(Engine(tok80k.model, cache_bytes=0), text)
    assert sorted(decoded) == sorted([b"    }\n", b"}\n", b"    }\n\n", b"x" * 200 + b"\n", b"x" * 200 + b"\n"])
    assert (engine.chunk_cache.hits, engine.chunk_cache.misses) == (1, 3)  # the long line is not looked up


def test_long_chunks_are_neither_looked_up_nor_kept(tok80k):
    engine = Engine(tok80k.model)
    long_line = ("x" * (engine.chunk_cache.max_chunk + 1) + "\n").encode()
    engine.encode_utf8(long_line + b"}\n")
    assert len(engine.chunk_cache) == 1 and engine.chunk_cache.get(b"}\n") is not None
    assert engine.chunk_cache.get(long_line) is None


def test_the_bound_holds_and_frequent_chunks_survive_a_turnover():
    cache = ChunkCache(max_bytes=20 * (ENTRY_OVERHEAD + 40))
    for n in range(1000):
        cache.put(b"    }\n", [1, 2])  # read and kept again before each turnover
        assert cache.get(b"    }\n") == [1, 2]
        cache.put(b"line %d\n" % n, [n, n, n])
        assert cache.size <= cache.max_bytes
        assert len(cache) <= 2 * 20  # two generations of at most 20 entries of this size
    assert cache.get(b"line 999\n") == [999, 999, 999] and cache.get(b"line 0\n") is None
    cache.put(b"x" * 10, list(range(cache.max_bytes)))  # larger than the whole budget: not kept
    assert cache.get(b"x" * 10) is None


def test_an_engine_without_the_cache_keeps_nothing(tok80k):
    engine = Engine(tok80k.model, cache_bytes=0)
    engine.encode_utf8(b"}\n}\n")
    assert len(engine.chunk_cache) == 0 and engine.chunk_cache.max_chunk == 0


def test_threads_share_the_cache(tok80k):
    engine = Engine(tok80k.model, cache_bytes=25_000)  # about three texts' chunks: turnovers while threads run
    texts = [("\n".join(LINES[(k + j) % len(LINES)] + str(j % 7) for j in range(40)) + "\n").encode() for k in range(12)]
    expected = [uncached_ids(engine, t) for t in texts]
    results: dict = {}
    errors: list = []

    def work(worker: int) -> None:
        try:
            results[worker] = [[engine.encode_utf8(t) for t in texts] for _ in range(5)]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(rounds == [expected] * 5 for rounds in results.values())
    assert engine.chunk_cache.size <= engine.chunk_cache.max_bytes and engine.chunk_cache.hits > 0


def test_pickles_do_not_carry_the_cache(tok80k):
    tok = Tokenizer(tok80k.model)
    empty = len(pickle.dumps(tok))
    tok.encode("\n".join(LINES) * 50)
    assert len(tok.engine.chunk_cache) > 0
    data = pickle.dumps(tok)
    assert len(data) == empty  # the same bytes as before any text was cached
    clone = pickle.loads(data)
    assert len(clone.engine.chunk_cache) == 0
    assert clone.encode("    }\n") == tok.encode("    }\n")


def test_sampling_does_not_go_through_the_cache(engines):
    # Same seed, same samples with the cache full of the Viterbi ids of the same chunks.
    cached, plain = engines
    text = ("\n".join(LINES) + "\n") * 5
    cached.encode_utf8(text.encode())  # the cache now holds every chunk's best path
    for seed in range(5):
        with_cache = cached.encode_utf8(text.encode(), 0.5, cached.random.generator(seed))
        without = plain.encode_utf8(text.encode(), 0.5, plain.random.generator(seed))
        assert with_cache == without
    assert with_cache != cached.encode_utf8(text.encode())  # alpha 0.5: a sample, not the best path
