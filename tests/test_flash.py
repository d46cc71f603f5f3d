"""`cycler flash` as far as this machine allows: UF2 files in the real format, made here
block by block; a bootloader drive that is a folder with INFO_UF2.TXT; ESP32 image
headers and the esptool command line (parsed by the real esptool, which then fails to
open a port that does not exist). What only a real board can prove: docs/flashing.md."""
import filecmp
import json
import os
import struct

import pytest
from serial.tools import list_ports

from host_tools import cli, flash, mpremote_io
from host_tools.flash import FlashError

RP2040 = 0xE48BFF56
ESP32S2 = 0xBFDD4EEE
RPI_INFO = "UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n"


def uf2_block(block_no, num_blocks, addr, payload, family=RP2040, flags=0x2000,
              magic_end=0x0AB16F30):
    head = struct.pack("<8I", 0x0A324655, 0x9E5D5157, flags, addr, len(payload),
                       block_no, num_blocks, family)
    data = payload + bytes(476 - len(payload))
    return head + data + struct.pack("<I", magic_end)


def make_uf2(nblocks=6, family=RP2040, base=0x10000000, seed=1, **kw):
    """A UF2 the way picotool/elf2uf2 writes one: 256-byte pages, consecutive."""
    out = b""
    for i in range(nblocks):
        page = bytes((seed * 31 + i * 7 + j) & 0xFF for j in range(256))
        out += uf2_block(i, nblocks, base + 256 * i, page, family=family, **kw)
    return out


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def make_drive(parent, name="RPI-RP2", info=RPI_INFO):
    drive = parent / name
    drive.mkdir(parents=True)
    (drive / "INFO_UF2.TXT").write_text(info)
    (drive / "INDEX.HTM").write_text("<html>redirect</html>")
    return drive


# -- UF2 checks: a table of good and bad files ------------------------------------------
def _bad_block(i, **kw):
    blocks = make_uf2(6)
    b = uf2_block(i, 6, 0x10000000 + 256 * i, bytes(256), **kw)
    return blocks[:512 * i] + b + blocks[512 * (i + 1):]


BAD_UF2 = [
    ("empty", b"", "is empty"),
    ("not uf2 (text)", b"hello world\n" * 100, "not a UF2 file"),
    ("esp32 bin", b"\xe9\x03\x02\x20" + bytes(1020), "ESP32 firmware image"),
    ("elf", b"\x7fELF" + bytes(1020), "ELF file"),
    ("ESP32-S2 family", make_uf2(4, family=ESP32S2), r"ESP32-S2 \(0xbfdd4eee\), not RP2040"),
    ("cut mid-block", make_uf2(6)[:5 * 512 + 100], "truncated or damaged"),
    ("cut at a block boundary", make_uf2(6)[:4 * 512], "truncated: its blocks say 6 in all, "
                                                       "the file has 4"),
    ("no family flag", make_uf2(3, flags=0), "no family id"),
    ("file container", make_uf2(3, flags=0x3000), "file container"),
    ("bad end magic", _bad_block(2, magic_end=0), "block 2 .*bad UF2 magic"),
    ("out of order", make_uf2(3)[512:1024] + make_uf2(3)[:512] + make_uf2(3)[1024:],
     "block 0 .*numbered 1"),
    ("two files glued", make_uf2(3) + make_uf2(3), "block 3 .*numbered 0"),
    ("address in RAM", make_uf2(3, base=0x20000000), "outside the flash"),
    ("address past 16 MiB", make_uf2(3, base=0x10FFFF00), "outside the flash"),
    ("unaligned", make_uf2(3, base=0x10000080), "256-byte"),
    ("RP2350 family", make_uf2(2, family=0xE48BFF59), "RP2350"),
]


@pytest.mark.parametrize("name,data,message", BAD_UF2, ids=[b[0] for b in BAD_UF2])
def test_bad_uf2_refused(name, data, message):
    with pytest.raises(FlashError, match=message):
        flash.check_uf2(data)


def test_good_uf2_accepted():
    data = make_uf2(6)
    s = flash.check_uf2(data)
    assert s["blocks"] == 6
    assert s["payload_bytes"] == 6 * 256
    assert (s["first_addr"], s["end_addr"]) == (0x10000000, 0x10000000 + 6 * 256)


def test_not_main_flash_block_skipped_for_addresses():
    # a block flagged "not main flash" (0x1) may point anywhere; it still counts
    extra = uf2_block(3, 4, 0x20000000, bytes(256), flags=0x2001)
    data = b"".join(uf2_block(i, 4, 0x10000000 + 256 * i, bytes(256)) for i in range(3)) + extra
    s = flash.check_uf2(data)
    assert s["blocks"] == 4 and s["payload_bytes"] == 3 * 256


# -- drive detection and the copy -------------------------------------------------------
def test_drive_found_and_copy_identical(tmp_path):
    media = tmp_path / "media" / "user"
    make_drive(media, "USBSTICK", info="just a text file named like that?\n")  # no Board-ID
    drive = make_drive(media, "RPI-RP2")
    (media / "EMPTY").mkdir()
    drives = flash.find_uf2_drives([str(media / "*")])
    assert sorted(d["board_id"] for d in drives) == ["", "RPI-RP2"]
    image = write(tmp_path, "RPI_PICO-test.uf2", make_uf2(8, seed=5))
    logs = []
    dest = flash.flash_rp2040(image, patterns=[str(media / "*")], log=logs.append)
    assert dest == str(drive / "RPI_PICO-test.uf2")
    assert filecmp.cmp(image, dest, shallow=False)
    assert "8 UF2 blocks" in logs[0] and str(drive) in logs[-1]


def test_cli_copies_to_drive_given(tmp_path, capsys):
    drive = make_drive(tmp_path / "mnt")
    image = write(tmp_path, "fw.uf2", make_uf2(4))
    assert cli.main(["flash", "--board", "pico", image, "--drive", str(drive)]) == 0
    assert (drive / "fw.uf2").read_bytes() == make_uf2(4)


def test_bad_file_never_reaches_the_drive(tmp_path, capsys):
    drive = make_drive(tmp_path / "mnt")
    image = write(tmp_path, "s2.uf2", make_uf2(4, family=ESP32S2))
    assert cli.main(["flash", "--board", "pico", image, "--drive", str(drive)]) == 1
    assert "ESP32-S2" in capsys.readouterr().err
    assert sorted(os.listdir(drive)) == ["INDEX.HTM", "INFO_UF2.TXT"]


def test_no_drive(tmp_path):
    image = write(tmp_path, "fw.uf2", make_uf2(2))
    with pytest.raises(FlashError, match="no RPI-RP2 drive found.*BOOTSEL"):
        flash.flash_rp2040(image, patterns=[str(tmp_path / "media" / "*")], log=lambda s: None)
    with pytest.raises(FlashError, match="no INFO_UF2.TXT"):
        flash.flash_rp2040(image, drive=str(tmp_path), log=lambda s: None)


def test_wrong_board_drive(tmp_path):
    media = tmp_path / "media"
    make_drive(media, "S2BOOT", info="TinyUF2 Bootloader 0.10.2\nModel: ESP32-S2 Saola\n"
                                     "Board-ID: ESP32S2-Saola-R1\n")
    image = write(tmp_path, "fw.uf2", make_uf2(2))
    with pytest.raises(FlashError, match="wrong board.*ESP32S2-Saola-R1"):
        flash.flash_rp2040(image, patterns=[str(media / "*")], log=lambda s: None)
    assert sorted(os.listdir(media / "S2BOOT")) == ["INDEX.HTM", "INFO_UF2.TXT"]


def test_two_rp2_drives_need_a_choice(tmp_path):
    media = tmp_path / "media"
    make_drive(media, "A")
    make_drive(media, "B")
    image = write(tmp_path, "fw.uf2", make_uf2(2))
    with pytest.raises(FlashError, match="2 RPI-RP2 drives"):
        flash.flash_rp2040(image, patterns=[str(media / "*")], log=lambda s: None)
    assert flash.flash_rp2040(image, drive=str(media / "B"), log=lambda s: None) \
        == str(media / "B" / "fw.uf2")


def test_running_board_sent_to_bootloader(tmp_path, monkeypatch, registry):
    """A stand-in for the board: the code mpremote runs makes the drive appear, and the
    link drops under mpremote (as a real board's does when it reboots)."""
    media = tmp_path / "media"
    media.mkdir()
    sent = []

    def board_exec(port, code, timeout=None):
        sent.append((port, code))
        if "machine.bootloader()" in code:
            make_drive(media, "RPI-RP2")
            raise mpremote_io.MpremoteError("mpremote ... failed (exit 1):\n"
                                            "device disconnected")
        return ""

    monkeypatch.setattr(mpremote_io, "exec_", board_exec)
    monkeypatch.setattr(list_ports, "comports", lambda: [])
    image = write(tmp_path, "fw.uf2", make_uf2(3))
    dest = flash.flash_rp2040(image, port="/dev/ttyACM0", patterns=[str(media / "*")],
                              wait_s=5, log=lambda s: None)
    assert [p for p, _c in sent] == ["/dev/ttyACM0"]
    assert open(dest, "rb").read() == make_uf2(3)


def test_bootloader_drive_never_appears(tmp_path, monkeypatch, registry):
    monkeypatch.setattr(mpremote_io, "exec_", lambda *a, **k: "")
    monkeypatch.setattr(list_ports, "comports", lambda: [])
    image = write(tmp_path, "fw.uf2", make_uf2(3))
    with pytest.raises(FlashError, match="did not come back as an RPI-RP2 drive"):
        flash.flash_rp2040(image, port="/dev/ttyACM0", patterns=[str(tmp_path / "x" / "*")],
                           wait_s=0.3, log=lambda s: None)


def test_bootloader_refused_for_esp32_and_virtual_ports(tmp_path, monkeypatch, registry):
    from serial.tools.list_ports_common import ListPortInfo
    cp210x = ListPortInfo("/dev/ttyUSB0", skip_link_detection=True)
    cp210x.vid, cp210x.pid = 0x10C4, 0xEA60
    calls = []
    monkeypatch.setattr(mpremote_io, "exec_", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(list_ports, "comports",
                        lambda: [cp210x])
    image = write(tmp_path, "fw.uf2", make_uf2(3))
    nowhere = [str(tmp_path / "x" / "*")]
    with pytest.raises(FlashError, match="wrong board: /dev/ttyUSB0 is a CP210x"):
        flash.flash_rp2040(image, port="/dev/ttyUSB0", patterns=nowhere, log=lambda s: None)
    pty = tmp_path / "pts-9"
    pty.write_text("")
    registry.mkdir()   # an entry in host_tools.simboard's format, no board started
    (registry / "1-0.json").write_text(json.dumps({"pid": os.getpid(), "port": str(pty)}))
    with pytest.raises(FlashError, match="virtual board"):
        flash.flash_rp2040(image, port=str(pty), patterns=nowhere, log=lambda s: None)
    assert calls == []


# -- ESP32 -------------------------------------------------------------------------------
def esp_image(chip_id, offset, size=0x9000, partition_table=True):
    """The start of a MicroPython firmware.bin: the bootloader's image header (8 bytes
    common + 16 bytes extended, chip id at 12..13) and the partition table's magic
    where 0x8000 lands in the file."""
    head = struct.pack("<BBBBI", 0xE9, 3, 2, 0x20, 0x400805F0)
    ext = struct.pack("<B3sHBHH4sB", 0xEE, b"\0\0\0", chip_id, 0, 0, 0xFFFF, bytes(4), 1)
    data = bytearray(head + ext + bytes(size - 24))
    if partition_table:
        data[0x8000 - offset:0x8000 - offset + 2] = b"\xaa\x50"
    return bytes(data)


@pytest.mark.parametrize("chip,chip_id,offset", [
    ("esp32", 0, 0x1000), ("esp32s2", 2, 0x1000), ("esp32s3", 9, 0x0), ("esp32c3", 5, 0x0)])
def test_esp_image_accepted_with_its_offset(chip, chip_id, offset):
    data = esp_image(chip_id, offset)
    assert flash.check_esp_image(data) == (chip, offset)
    assert flash.check_esp_image(data, chip=chip) == (chip, offset)


def test_chip_table_agrees_with_esptool():
    from esptool.targets import CHIP_DEFS
    for chip, (chip_id, offset) in flash.ESP_CHIPS.items():
        assert CHIP_DEFS[chip].IMAGE_CHIP_ID == chip_id, chip
        assert CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET == offset, chip


BAD_ESP = [
    ("wrong chip", esp_image(9, 0), "esp32", r"built for esp32s3 \(chip id 9\), not esp32"),
    ("wrong chip 2", esp_image(0, 0x1000), "esp32s3", "built for esp32 .*not esp32s3"),
    ("unknown chip id", esp_image(77, 0), None, "chip id 77"),
    ("not an image", b"MZ" + bytes(4000), None, "must start with the image magic 0xe9"),
    ("uf2", make_uf2(2, family=ESP32S2), None, r"UF2 file \(ESP32-S2"),
    ("app only", esp_image(0, 0x1000, partition_table=False), None, "no partition table"),
    ("short", b"\xe9\x03", None, "not an ESP32 firmware image"),
]


@pytest.mark.parametrize("name,data,chip,message", BAD_ESP, ids=[b[0] for b in BAD_ESP])
def test_bad_esp_image_refused(name, data, chip, message):
    with pytest.raises(FlashError, match=message):
        flash.check_esp_image(data, chip=chip)


def test_esptool_args():
    assert flash.esptool_args("esp32", "/dev/ttyUSB0", "fw.bin", 0x1000, 460800) == [
        "--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "460800",
        "--before", "default-reset", "--after", "hard-reset",
        "write-flash", "0x1000", "fw.bin"]
    args = flash.esptool_args("esp32s3", "/dev/ttyACM0", "s3.bin", 0x0, 921600)
    assert args[args.index("write-flash") + 1:] == ["0x0", "s3.bin"]
    assert args[args.index("--chip") + 1] == "esp32s3"


@pytest.mark.parametrize("chip_id,offset,chip", [(0, 0x1000, "esp32"), (9, 0x0, "esp32s3")])
def test_real_esptool_takes_our_arguments(tmp_path, chip_id, offset, chip, capsys):
    """esptool parses the whole command line before it opens the port: failing on the
    port (not on usage) shows that esptool 5.x accepts what we form."""
    image = write(tmp_path, "fw.bin", esp_image(chip_id, offset))
    missing = str(tmp_path / "no-such-tty")
    with pytest.raises(FlashError, match="esptool: Could not open .*no-such-tty"):
        flash.flash_esp32(image, missing, log=lambda s: None)


def test_wrong_chip_refused_before_touching_the_port(tmp_path, capsys):
    image = write(tmp_path, "s3.bin", esp_image(9, 0))
    rc = cli.main(["flash", "--board", "esp32", image, "--chip", "esp32",
                   "--port", str(tmp_path / "no-such-tty")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "wrong chip" in err and "esp32s3" in err
    assert "Could not open" not in err   # refused before esptool ran


def test_detected_chip_mismatch_message(tmp_path, monkeypatch):
    """esptool refuses a board whose chip is not --chip; we turn that into our words."""
    import esptool
    from esptool.util import FatalError

    def board_is_s3(argv):
        raise FatalError("This chip is ESP32-S3, not ESP32. Wrong --chip argument?")

    monkeypatch.setattr(esptool, "main", board_is_s3)
    image = write(tmp_path, "fw.bin", esp_image(0, 0x1000))
    with pytest.raises(FlashError, match="wrong chip: the board on /dev/ttyUSB0 is an "
                                         "ESP32-S3, the image is for ESP32"):
        flash.flash_esp32(image, "/dev/ttyUSB0", log=lambda s: None)


def test_esp32_needs_a_port(tmp_path):
    image = write(tmp_path, "fw.bin", esp_image(0, 0x1000))
    with pytest.raises(FlashError, match="no --port.*fine for esp32 at 0x1000"):
        flash.flash_esp32(image, None, log=lambda s: None)
