"""The virtual board as the real mpremote and pyserial see it (host_tools/simboard.py)."""
import hashlib
import os
import time

import pytest
import serial

from host_tools import mpremote_io, simboard

T = 20  # seconds: every wait has a bound, so nothing hangs CI


def read_until(ser, marker, timeout=T):
    buf = b""
    end = time.monotonic() + timeout
    while marker not in buf and time.monotonic() < end:
        buf += ser.read(4096)
    assert marker in buf, "no %r in %r" % (marker, buf[-300:])
    return buf


def wait_for(cond, timeout=T):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


def test_mpremote_exec_ls_cp_sha256(sim_board, tmp_path):
    port = sim_board.port
    # main.py is looping when mpremote connects: its Ctrl-C must get through.
    assert mpremote_io.exec_(port, "print(1+1)", timeout=T).strip() == "2"
    src = tmp_path / "payload.txt"
    data = os.urandom(3000)
    src.write_bytes(data)
    mpremote_io.cp_to_board(port, [(str(src), "payload.bin")], timeout=T)
    assert (tmp_path / "board" / "payload.bin").read_bytes() == data
    names = [e[0] for e in mpremote_io.ls(port, timeout=T)]
    assert {"main.py", "payload.bin", simboard.CONFIG_FILE} <= set(names)
    assert mpremote_io.sha256sum(port, "payload.bin", timeout=T) == hashlib.sha256(data).hexdigest()
    mpremote_io.rm(port, ["payload.bin"], timeout=T)
    assert not (tmp_path / "board" / "payload.bin").exists()


def test_board_config_written_and_readable_on_board(sim_board):
    out = mpremote_io.exec_(sim_board.port, "import board_config as c\nprint(c.board, c.cell, c.speed)",
                            timeout=T)
    assert out.split() == ["sim", "fig4", "100"]


def test_ctrl_c_interrupts_main_then_repl_works(sim_board):
    with serial.Serial(sim_board.port, 115200, timeout=0.1) as ser:
        read_until(ser, b"tick")
        ser.write(b"A")                     # console input reaches main.py's poll
        read_until(ser, b"got b'A'")
        ser.write(b"\x03")                  # arrives as SIGINT -> KeyboardInterrupt
        out = read_until(ser, b">>> ")
        assert b"output off" in out and b"KeyboardInterrupt" in out
        ser.write(b"print(6*7)\r")
        read_until(ser, b"42")


def test_board_restarts_when_the_process_ends(sim_board):
    boots_file = os.path.join(sim_board.dir, "boots.txt")
    wait_for(lambda: os.path.exists(boots_file))
    first = sim_board.child.pid
    mpremote_io.reset(sim_board.port, virtual=True, timeout=T)
    wait_for(lambda: sim_board.boots >= 2 and open(boots_file).read().count("boot") >= 2)
    assert sim_board.child.pid != first
    assert mpremote_io.exec_(sim_board.port, "print(3*3)", timeout=T).strip() == "9"


def test_registry_lists_the_board_and_is_cleaned(registry, tmp_path):
    b = simboard.SimBoard(str(tmp_path / "b"))
    port = b.start()
    try:
        running = simboard.list_running()
        assert [r["port"] for r in running] == [port]
        assert b.link is not None
        assert os.path.realpath(b.link) == os.path.realpath(port)
    finally:
        b.stop()
    assert simboard.list_running() == []
    assert not os.path.lexists(str(b.link))
    assert os.listdir(str(registry)) == []


def test_temp_board_dir_is_made_and_removed(registry):
    b = simboard.SimBoard()
    b.start()
    d = b.dir
    assert d is not None
    assert os.path.exists(os.path.join(d, simboard.CONFIG_FILE))
    b.stop()
    assert not os.path.exists(d)


FLOOD_MAIN = """\
import sys
sys.stdin.buffer.read(1)           # wait for the host's go
w = sys.stdout.buffer.write
for i in range(%d):
    w(b'%%07d\\n' %% i)
w(b'END\\n')
"""


def test_relay_loses_nothing_when_host_reads_late(registry, tmp_path):
    n = 40000   # 320 kB: more than the relay's buffer plus the kernel's
    d = tmp_path / "flood"
    d.mkdir()
    (d / "main.py").write_text(FLOOD_MAIN % n)
    with simboard.SimBoard(str(d)) as port:
        with serial.Serial(port, 115200, timeout=0.2) as ser:
            ser.write(b"g")
            time.sleep(1.0)               # the host does not read: the board stalls
            out = read_until(ser, b"END\n")
    lines = out[out.index(b"0000000"):].split(b"\n")
    nums = [int(x) for x in lines if x.isdigit()]
    assert nums == list(range(n))


QUIET_MAIN = """\
import sys
for i in range(30000):
    sys.stdout.buffer.write(b'%07d\\n' % i)
open('done.txt', 'w').close()
"""


def test_board_does_not_block_with_no_host_attached(registry, tmp_path):
    d = tmp_path / "quiet"
    d.mkdir()
    (d / "main.py").write_text(QUIET_MAIN)
    with simboard.SimBoard(str(d)):
        wait_for(lambda: (d / "done.txt").exists())


def test_ctrl_c_interrupts_code_started_from_the_raw_repl(sim_board):
    # `mpremote exec` runs code with the terminal raw (ISIG off): the relay must turn
    # 0x03 into KeyboardInterrupt itself, as a real board's USB stack does.
    port = sim_board.port
    loop = ("import sys, select, time\np = select.poll()\np.register(sys.stdin, select.POLLIN)\n"
            "while True:\n    if p.poll(0) and sys.stdin.buffer.read(1) == b'\\x03':\n"
            "        open('saw_ctrl_c.txt', 'w').close()\n    time.sleep_ms(5)\n")
    mpremote_io.mpremote(port, "exec", "--no-follow", loop, timeout=T)
    assert mpremote_io.exec_(port, "print(5*5)", timeout=T).strip() == "25"
    assert not os.path.exists(os.path.join(sim_board.dir, "saw_ctrl_c.txt"))
