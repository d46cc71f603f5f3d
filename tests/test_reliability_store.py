"""Power lost while the checkpoint is written (firmware/board/store.py), exhaustively: the
temp file cut at every byte (the rename never happened), and the final file cut at every
byte (a file system that does not rename atomically). The reader gets the old state or
the new one, or none at all, never a wrong one; and the board's runtime boots from every
one of those flashes with its output off, restored PAUSED at the old or the new place,
or with no run at all."""
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests", "core"), os.path.join(ROOT, "boards")]
import host_tools  # noqa: E402,F401
import runtime  # noqa: E402
import store  # noqa: E402
from standin import Port, loop  # noqa: E402
from test_runtime import _boot, _load_and_start  # noqa: E402


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_every_cut_of_the_temp_or_final_file_reads_old_new_or_nothing(tmp_path):
    p = str(tmp_path / "cp.txt")
    old = [11, -2, 0, 123456789, 7]
    new = [12, -3, 1, 987654321, 8, 99]
    store.write_ints(p, new)
    new_b = _bytes(p)
    store.write_ints(p, old)
    old_b = _bytes(p)
    cuts = 0
    for k in range(len(new_b) + 1):
        # cut while the temp file was written: the final file still holds the old state
        _put(p, old_b)
        _put(p + ".tmp", new_b[:k])
        assert store.read_ints(p) == old
        # the next write after the reboot replaces the torn temp file
        store.write_ints(p, new)
        assert store.read_ints(p) == new
        # cut while the final file itself was written (no atomic rename)
        _put(p, new_b[:k])
        got = store.read_ints(p)
        assert got in (new, None), (k, got)
        if k < len(new_b) - 1:   # anything short of the whole line and its CRC
            assert got is None, (k, new_b[:k])
        cuts += 2
    # one byte changed anywhere (a bit flip, a cell of flash gone bad): CRC-16 sees it
    for k in range(len(new_b) - 1):
        for b in (0x30, 0x31, 0x20, 0x2A, new_b[k] ^ 0x01):
            if b == new_b[k]:
                continue
            _put(p, new_b[:k] + bytes([b]) + new_b[k + 1:])
            assert store.read_ints(p) in (None, new), (k, b)
    assert cuts == 2 * (len(new_b) + 1) and len(new_b) > 20


def test_every_cut_of_the_protocol_file_reads_whole_or_nothing(tmp_path):
    p = str(tmp_path / "protocol.txt")
    lines = ["cell 83900 437", "window 2600000 4100000", "cc 251700 3300000 0"]
    store.write_lines(p, lines)
    data = _bytes(p)
    for k in range(len(data) + 1):
        _put(p, data[:k])
        got = store.read_lines(p)
        assert got in (lines, None), (k, got)
        if k < len(data) - 1:
            assert got is None, k


def test_the_runtime_boots_from_every_cut_checkpoint(tmp_path):
    # a real run writes an old checkpoint, then a newer one at a later step boundary
    d = str(tmp_path / "flash")
    os.mkdir(d)
    port = Port()
    rt = _boot(d, port)
    _load_and_start(rt, port)
    cp_path = os.path.join(d, runtime.CHECKPOINT_FILE)
    while not os.path.exists(cp_path):
        loop(rt, 5)
    old_b = _bytes(cp_path)
    old = store.read_ints(cp_path)
    while store.read_ints(cp_path) == old:
        loop(rt, 10)
        assert rt.ch.state_name() == "running"
    new_b = _bytes(cp_path)
    new = store.read_ints(cp_path)
    assert new[4] > old[4]            # a later step
    flash = str(tmp_path / "image")
    shutil.copytree(d, flash)
    seen = {"old": 0, "new": 0, "none": 0}
    for where in ("tmp", "final"):
        for k in range(len(new_b) + 1):
            img = str(tmp_path / ("boot-%s-%d" % (where, k)))
            shutil.copytree(flash, img)
            cp = os.path.join(img, runtime.CHECKPOINT_FILE)
            if where == "tmp":
                _put(cp, old_b)
                _put(cp + ".tmp", new_b[:k])
            else:
                _put(cp, new_b[:k])
            p2 = Port()
            rt2 = _boot(img, p2)
            loop(rt2, 3)
            assert not rt2.ch.out_on and not rt2.fe.model.on
            b = [r for r in p2.records() if r[0] == "B"]
            assert len(b) == 1
            if rt2.ch.state_name() == "paused":
                step = rt2.ch.engine.step_number
                assert step in (old[4], new[4]), (where, k, step)
                assert b[0][1][5] == step
                seen["old" if step == old[4] else "new"] += 1
                if where == "tmp":
                    assert step == old[4]
            else:
                assert rt2.ch.state_name() == "idle", (where, k, rt2.ch.status_text())
                assert any("no checkpoint" in r for r in p2.replies())
                seen["none"] += 1
            shutil.rmtree(img)
    assert seen["old"] == len(new_b) + 1           # every cut of the temp file
    assert seen["new"] >= 1 and seen["none"] >= len(new_b) - 1
    print("\ncheckpoint cuts booted: %s (%d bytes)" % (seen, len(new_b)))
