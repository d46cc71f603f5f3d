"""The board's files as users reach them: plain `mpremote connect PORT ls` on the
virtual board (as on a real one: a soft reset in the raw REPL, then the listing), and
`cycler files ls|cat` through the firmware's `files` command while a run goes on."""
import os
import subprocess
import sys
import time

import pytest

import host_tools  # noqa: F401  (the board-side folders on sys.path)
import board_files
import boardtest
from host_tools import cli, protocol_file


def _cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "host_tools.cli"] + list(args),
                          capture_output=True, text=True, timeout=timeout)


# -- the board side, on CPython ---------------------------------------------------
def test_files_pages_names_and_chunks(tmp_path):
    names = ["f%02d.txt" % k for k in range(11)]
    for k, n in enumerate(names):
        (tmp_path / n).write_bytes(bytes(range(k * 20 % 256, k * 20 % 256 + 20)) * (k + 1))
    (tmp_path / "sub").mkdir()
    fs = board_files.Files(str(tmp_path))
    first = fs.ls(0).split()
    assert first[0] == "n=12" and first[1] == "next=%d" % board_files.Files.PAGE
    rest = fs.ls(board_files.Files.PAGE).split()
    assert rest[1] == "next=-1"
    listed = dict(w.rsplit("=", 1) for w in first[2:] + rest[2:])
    assert listed["f03.txt"] == "80" and "sub/" in listed
    # cat: every byte, in chunks, offsets chained
    want = (tmp_path / "f10.txt").read_bytes()
    got, off = b"", 0
    while off >= 0:
        kv = dict(w.split("=", 1) for w in fs.cat("f10.txt", off).split())
        assert int(kv["size"]) == len(want)
        got += bytes.fromhex(kv["hex"])
        off = int(kv["next"])
    assert got == want and len(want) > board_files.Files.CHUNK


@pytest.mark.parametrize("name, words", [("../etc", "not a file name"),
                                         ("a/b", "not a file name"),
                                         ("nothing.txt", "no file")])
def test_files_refuses_what_is_not_a_file_of_its_folder(tmp_path, name, words):
    with pytest.raises(ValueError, match=words):
        board_files.Files(str(tmp_path)).cat(name, 0)


# -- the real firmware on the virtual board -----------------------------------------
def test_mpremote_ls_works_on_an_idle_virtual_board(deployed_board):
    b = deployed_board
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", b.port, "ls"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    listed = r.stdout.split()
    assert "main.py" in listed and "engine.mpy" in listed
    # main.py was interrupted, as on a real board; a reboot brings the loop back
    b.restart()
    with _board(b.port) as bd:
        assert bd.status().get("state") == "idle"


class _board:
    def __init__(self, port):
        self.port = port

    def __enter__(self):
        self.b = boardtest.connect(self.port)
        return self.b

    def __exit__(self, *exc):
        self.b.close()


def test_cycler_files_reads_the_boards_files_while_the_cell_runs(deployed_board, capsys):
    b = deployed_board
    parsed = protocol_file.load(protocol_file.resolve("quick"))
    with _board(b.port) as bd:
        bd.load(parsed.lines)
        bd.command("start")
    saved = os.path.join(b.dir, "protocol.txt")   # what the board keeps to resume
    assert cli.main(["files", "ls", "--port", b.port]) == 0
    out = capsys.readouterr().out
    sizes = {ln.split()[-1]: ln.split()[0] for ln in out.splitlines() if len(ln.split()) == 2}
    assert sizes["protocol.txt"] == str(os.path.getsize(saved)) and "main.py" in sizes
    assert cli.main(["files", "cat", "protocol.txt", "--port", b.port]) == 0
    body = capsys.readouterr().out
    with open(saved) as f:
        assert body == f.read()
    assert [ln for ln in body.splitlines() if ln.strip()][:len(parsed.lines)] == parsed.lines
    assert cli.main(["files", "cat", "../x", "--port", b.port]) == 1
    assert "not a file name" in capsys.readouterr().err
    with _board(b.port) as bd:
        assert bd.status().get("state") == "running"   # the run went on
        bd.command("stop")


def test_files_without_a_board_says_what_to_do(registry, capsys):
    assert cli.main(["files", "ls"]) == 2
    assert "no --port given and no board found" in capsys.readouterr().err
