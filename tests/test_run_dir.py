"""`cycler run` into a folder that holds an earlier run keeps that run: its files are
moved aside into previous-<time>/, never deleted (no data is lost)."""
import os

from host_tools import protocol_file, run


def test_an_earlier_run_is_moved_aside_not_deleted(tmp_path):
    src = protocol_file.resolve("quick")
    parsed = protocol_file.load(src)
    out = str(tmp_path)
    run.prepare_dir(out, src, parsed)
    with open(os.path.join(out, "cycles.csv"), "w") as f:
        f.write("cycle\n1\n")
    run.prepare_dir(out, src, parsed)
    kept = [d for d in os.listdir(out) if d.startswith("previous-")]
    assert len(kept) == 1
    with open(os.path.join(out, kept[0], "cycles.csv")) as f:
        assert f.read() == "cycle\n1\n"
    assert not os.path.exists(os.path.join(out, "cycles.csv"))
    assert os.path.exists(os.path.join(out, "protocol.txt"))
