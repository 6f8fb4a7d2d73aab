"""SIGINT and SIGTERM during training and during encode-corpus: the run stops with status
130 / 143, its temporary directories are gone, its worker processes end, and nothing but
nothing is printed (no traceback from the owner or from a worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DEMO_CORPUS, legacy_zip, REPO

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# (signal, sent to the process group (as Ctrl-C and most supervisors do) or the owner only)
DELIVERIES = [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, True)]


def _default_sigint() -> None:
    # A job started in the background by a non-interactive shell (CI, nohup ... &) inherits
    # SIGINT ignored, and Python keeps it so: the command would rightly not stop. The test
    # wants the interactive case, where SIGINT is not ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(args, tmp_path: Path, ready, sig: int, group: bool) -> subprocess.CompletedProcess:
    """Run ``bytepiece ARGS`` in a session of its own, wait until ``ready()`` (a temporary
    directory exists: the work is under way), deliver ``sig``, and wait for the end."""
    process = subprocess.Popen([sys.executable, "-m", "bytepiece", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True, cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
                               preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never got under way"
            time.sleep(0.02)
        (os.killpg if group else os.kill)(process.pid, sig)
        out, err = process.communicate(timeout=120)  # stderr closes when the workers are gone too
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # no process of the run is left
    return subprocess.CompletedProcess(args, process.returncode, out, err)


@pytest.mark.parametrize("sig, group", DELIVERIES, ids=["TERM-owner", "TERM-group", "INT-group"])
def test_training(tmp_path, sig, group):
    spill = tmp_path / "spill"
    spill.mkdir()
    args = ["train", str(DEMO_CORPUS), "-o", str(tmp_path / "m.model"), "--workers", "2", "--quiet",
            "--memory-budget", "1M", "--spill-dir", str(spill)]
    result = interrupt(args, tmp_path, lambda: any(spill.iterdir()), sig, group)
    assert result.returncode == 128 + sig
    assert result.stderr == b""
    assert list(spill.iterdir()) == []  # the spilled count runs are removed
    assert not (tmp_path / "m.model").exists()


@pytest.mark.parametrize("sig, group", DELIVERIES, ids=["TERM-owner", "TERM-group", "INT-group"])
def test_encode_corpus(tmp_path, sig, group):
    args = ["encode-corpus", str(DEMO_CORPUS), "-m", str(legacy_zip("bytepiece_80k")), "-o", str(tmp_path / "out"),
            "--workers", "2", "--split", "lines", "--quiet"]
    staging = lambda: [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # noqa: E731
    result = interrupt(args, tmp_path, lambda: bool(staging()), sig, group)
    assert result.returncode == 128 + sig
    assert result.stderr == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no staging directory, no output


def test_replacing_an_output_is_never_cut_in_two(tmp_path, monkeypatch):
    # SIGTERM arriving between moving the old token file aside and the new one in waits
    # for both renames: one of the two outputs is always in place.
    from bytepiece.io import token_file
    from bytepiece.io.token_file import TokenFile, write_token_file

    class Terminated(BaseException):
        pass

    def terminate(signum, frame):
        raise Terminated

    out = tmp_path / "out"
    write_token_file(out, [[3, 4]], vocab_size=300)
    real_rename = os.rename
    calls = []

    def rename(source, target):
        calls.append(target)
        real_rename(source, target)
        if len(calls) == 1:  # the old output is aside, the new one not yet in place
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, terminate)
    monkeypatch.setattr(token_file.os, "rename", rename)
    try:
        with pytest.raises(Terminated):
            write_token_file(out, [[5, 6, 7]], vocab_size=300, overwrite=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert [d.tolist() for d in TokenFile(out)] == [[5, 6, 7]] and len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the old output is removed too


OWNER_SCRIPT = """
import os, time
from bytepiece.parallel import WorkerPool

def worker_pid(state, item):
    time.sleep(0.2)  # both workers get some
    return os.getpid()

with WorkerPool(2, state=None) as pool:
    print(" ".join(str(pid) for pid in set(pool.map(worker_pid, range(8)))), flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
@pytest.mark.parametrize("sig, group", [(signal.SIGKILL, False), (signal.SIGTERM, True)], ids=["KILL-owner", "TERM-group"])
def test_workers_do_not_outlive_an_owner_that_dies_without_cleaning_up(tmp_path, sig, group):
    # A script killed by a signal it does not handle never shuts its pool down; its
    # workers, which ignore SIGTERM (see test_training above), end on their own.
    script = tmp_path / "owner.py"
    script.write_text(OWNER_SCRIPT)
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, start_new_session=True,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    try:
        workers = [int(pid) for pid in process.stdout.readline().split()]
        assert len(workers) >= 1 and process.pid not in workers
        (os.killpg if group else os.kill)(process.pid, sig)  # only the owner dies of it
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker outlived its owner"
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"  # a zombie is gone
    except FileNotFoundError:
        return False
