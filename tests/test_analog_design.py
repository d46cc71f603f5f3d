# The channel's description (boards/analog): SKiDL's ERC, the KiCad netlist, the BOM,
# and the files generated from it that the repository carries.
import csv
import io
import os
import re

import pytest

from boards.analog import bom, channel, kicad, parts, report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def design():
    return channel.build()


def test_erc_passes_with_no_errors_and_no_warnings(design, tmp_path):
    assert kicad.erc(design, str(tmp_path)) == (0, 0)


def test_erc_catches_two_outputs_on_one_net(tmp_path):
    # Control: the spare amplifier's output wired onto V_MID, which U1B drives.
    d = channel.build()
    spare = d.role("cell_buffer")
    spare.conn["OUTB"] = "V_MID"
    spare.conn["-INB"] = "V_MID"
    errors, _ = kicad.erc(d, str(tmp_path))
    assert errors >= 1


def test_every_part_has_a_manufacturer_part_number_and_footprint(design):
    for p in design.parts:
        t = p.tpl
        assert t.mfr and t.mpn and t.footprint and p.value, p.ref
        assert ":" in t.footprint, (p.ref, t.footprint)  # a KiCad library:footprint name
        assert not re.search(r"tbd|xxx|\?", t.mpn, re.I), (p.ref, t.mpn)


def test_every_pin_is_wired_to_a_named_net(design):
    for p in design.parts:
        assert set(p.conn) == set(p.tpl.pin_names()), p.ref
    for name in design.nets():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), name


def test_netlist_carries_every_part_with_its_part_number(design, tmp_path):
    text = kicad.netlist(design, str(tmp_path / "channel.net"))
    for p in design.parts:
        assert '(ref "%s")' % p.ref in text
        assert p.tpl.mpn in text
    for name in design.nets():
        assert '"%s"' % name in text


def test_bom_has_one_row_per_distinct_part_and_counts_every_part(design):
    rows = list(csv.reader(io.StringIO(bom.csv_text(design))))
    assert tuple(rows[0][:5]) == ("reference", "value", "manufacturer", "part number",
                                  "quantity")
    body = rows[1:]
    assert sum(int(r[4]) for r in body) == len(design.parts)
    refs = [ref for r in body for ref in r[0].split()]
    assert sorted(refs) == sorted(p.ref for p in design.parts)
    keys = [(r[2], r[3], r[1]) for r in body]
    assert len(keys) == len(set(keys))


def test_resistor_part_numbers_follow_the_value():
    assert parts.resistor(12400.0, True).mpn == "RT0603BRD0712K4L"
    assert parts.resistor(10.0).mpn == "RC0603FR-0710RL"
    assert parts.resistor(4700.0).mpn == "RC0603FR-074K7L"


def test_the_committed_bom_and_netlist_are_generated_from_the_description(design, tmp_path):
    with open(os.path.join(ROOT, report.BOM_PATH)) as f:
        assert f.read() == bom.csv_text(design), "run: python -m boards.analog.report"
    fresh = kicad.netlist(design, str(tmp_path / "channel.net"))
    with open(os.path.join(ROOT, report.NETLIST_PATH)) as f:
        assert report.strip_date(f.read()) == report.strip_date(fresh), \
            "run: python -m boards.analog.report"


def test_design_figures_follow_the_part_values(design):
    # OV trip: REF x 23.2 / 30.18, doubled by the 100 k / 100 k divider.
    assert design.ov_trip_V() == pytest.approx(3.0 * 23200 / 30180 * 2)
    assert 4.5 < design.ov_trip_V() < 4.7   # above the sweeps' 4.5 V, FACTS: cycling window
    hi, lo = design.oc_trip_fraction()
    assert 1.0 < hi < 1.1 and -1.1 < lo < -1.0
    assert design.sense_gain() == pytest.approx(1 + 49.4 / 12.4)
    assert design.v_mid_ratio() * 3.0 == pytest.approx(1.25)


def test_the_hazardous_variants_differ_where_they_should():
    assert channel.build(shared_ref=False).role("dac").conn["VDD"] == "V3V3"
    assert channel.build().role("dac").conn["VDD"] == "REF"
    assert channel.build(dummy_load=False).role("enable").conn["S2"] == "NC"
    with pytest.raises(KeyError):
        channel.build(relay=False).role("relay")


def test_docs_parts_block_is_the_generated_one(design):
    # BOM, header pinout (from the board files' pin constants), rails and compliance.
    assert report.doc_block(report.BEGIN_STATIC, report.END_STATIC) == \
        report.static_block(design), "run: .venv/bin/python -m boards.analog.report"


def test_compliance_covers_the_sweep_window_with_the_rails(design):
    need_top, have_top, need_bot, have_bot = design.compliance()
    assert need_top < have_top and need_bot > have_bot


def test_references_named_in_the_docs_and_board_files_are_the_assigned_ones(design):
    # docs/hardware.md's prose and the board files' wiring comments name these.
    named = {"error_amp": "U4", "cell_buffer": "U5", "inamp": "U6", "mux": "U7",
             "enable": "U8", "comparator": "U9", "relay": "K1", "relay_fet": "Q1",
             "fault_diodes": "D3", "temp_conn": "J2", "mcu": "J3", "cell": "J4", "dac": "U3"}
    for role, ref in named.items():
        assert design.role(role).ref == ref, role
    with open(os.path.join(ROOT, "boards", "pico.py")) as f:
        assert "header J3" in f.read()
