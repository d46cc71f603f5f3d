"""The whole loop on the virtual board (the real micropython executable, the deployed
firmware, the sim board behind a pty): tick cost, heap allocated per tick, and
telemetry records per second sustained over the pty without loss.

    .venv/bin/python benchmarks/virtual_board.py [--seconds 20] [--tick-ms 100]

The board runs with a telemetry record every tick and an unbounded --speed, so the
loop runs flat out; the host reads with pyserial and checks every record's CRC and
that the sequence numbers have no gap.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import host_tools  # noqa: E402,F401
from host_tools.simboard import SimBoard  # noqa: E402
from host_tools import deploy, protocol_file  # noqa: E402
import wire_read  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--tick-ms", type=int, default=100)
    args = ap.parse_args()
    import serial

    board = SimBoard(cell="fig4", speed=10 ** 9, tick_ms=args.tick_ms,
                     telemetry_ms=args.tick_ms)
    port = board.start()
    try:
        deploy.deploy(port, "sim", log=lambda s: None)
        time.sleep(1.0)
        s = serial.Serial(port, timeout=0.2)
        buf = b""

        def command(text, wait=5.0):
            nonlocal buf
            s.write(text.encode() + b"\n")
            t_end = time.time() + wait
            while time.time() < t_end:
                buf += s.read(4096)
                for line in buf.split(b"\n"):
                    if line.startswith(b"ok " + text.split()[0].encode()) or \
                            line.startswith(b"error " + text.split()[0].encode()):
                        return line.decode()
            raise RuntimeError("no reply to %r" % text)

        command("status")
        parsed = protocol_file.load(protocol_file.resolve("fig4_rate_test"))
        s.write(("load\n" + "\n".join(parsed.lines) + "\nend\n").encode())
        print(command("start"))
        buf = b""
        seqs, bad, n_t = [], 0, 0
        t0 = time.time()
        while time.time() - t0 < args.seconds:
            buf += s.read(65536)
            *lines, buf = buf.split(b"\n")
            for line in lines:
                line = line.strip().decode(errors="replace")
                if not wire_read.is_record(line):
                    continue
                try:
                    kind, fields = wire_read.decode(line)
                except ValueError:
                    bad += 1
                    continue
                seqs.append(fields[0])
                n_t += kind == "T"
        wall = time.time() - t0
        stats = command("stats")
        gaps = sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1)
        print(stats)
        print("records: %d in %.1f s = %.0f records/s (%d telemetry), %d bad CRC, %d gaps"
              % (len(seqs), wall, len(seqs) / wall, n_t, bad, gaps))
        kv = dict(x.split("=") for x in stats.split(": ", 1)[1].split())
        print("virtual board loop: %s us/tick average, %s us max, %s heap bytes/tick, "
              "%s ticks" % (kv["tick_us_avg"], kv["tick_us_max"], kv["alloc_b_per_tick"],
                           kv["ticks"]))
    finally:
        board.stop()


if __name__ == "__main__":
    main()
