"""`cycler flash`: install the MicroPython runtime on a board.

RP2040: check the .uf2 block by block, find the RPI-RP2 drive by its INFO_UF2.TXT (asking
a running board on --port to enter its bootloader if no drive is there), copy the file.
ESP32: check the image header's chip id, then esptool 5.x at the chip's offset.
It must never write to a drive or a board before the file has passed every check.
"""
import glob
import os
import re
import struct
import sys
import time

# -- UF2 (https://github.com/microsoft/uf2) -------------------------------------------
UF2_BLOCK = 512
UF2_MAGIC0 = 0x0A324655        # "UF2\n"
UF2_MAGIC1 = 0x9E5D5157
UF2_MAGIC_END = 0x0AB16F30
UF2_DATA_MAX = 476             # 512 - 32-byte header - 4-byte final magic
UF2_FLAG_NOT_MAIN_FLASH = 0x00000001
UF2_FLAG_FILE_CONTAINER = 0x00001000
UF2_FLAG_FAMILY_ID = 0x00002000
RP2040_FAMILY = 0xE48BFF56
RP2040_FLASH_START = 0x10000000
RP2040_FLASH_MAX = 16 * 1024 * 1024    # the RP2040's XIP window; a Pico has 2 MiB of it
RP2040_BOARD_ID = "RPI-RP2"

# Family ids from uf2families.json, for errors that say what the file is for instead.
UF2_FAMILIES = {
    0xE48BFF56: "RP2040",
    0xE48BFF57: "RP2XXX absolute",
    0xE48BFF58: "RP2XXX data",
    0xE48BFF59: "RP2350 (ARM, secure)",
    0xE48BFF5A: "RP2350 (RISC-V)",
    0xE48BFF5B: "RP2350 (ARM, non-secure)",
    0xBFDD4EEE: "ESP32-S2",
    0xC47E5767: "ESP32-S3",
    0x68ED2B88: "SAMD21",
    0x55114460: "SAMD51",
    0xADA52840: "nRF52840",
    0x57755A57: "STM32F4",
}

# Where desktops and admins mount USB drives; --drive adds one.
MOUNT_GLOBS = ("/media/*/*", "/run/media/*/*", "/mnt/*", "/media/*")
DRIVE_WAIT_S = 20.0

# -- ESP32 application image header (esptool's ESP32FirmwareImage) ---------------------
ESP_IMAGE_MAGIC = 0xE9
ESP_HEADER_LEN = 24            # 8-byte common header + 16-byte extended header
# chip -> (chip_id in the extended header, flash offset of MicroPython's firmware.bin).
# firmware.bin starts with the second-stage bootloader, so the offset is the chip's
# bootloader offset (esptool's BOOTLOADER_FLASH_OFFSET; a test checks they agree).
ESP_CHIPS = {
    "esp32": (0, 0x1000),
    "esp32s2": (2, 0x1000),
    "esp32s3": (9, 0x0),
    "esp32c3": (5, 0x0),
    "esp32c2": (12, 0x0),
    "esp32c6": (13, 0x0),
}
ESP_PARTITION_TABLE_AT = 0x8000   # MicroPython's partition table offset (all esp32 boards)
ESP_PARTITION_MAGIC = b"\xaa\x50"
DEFAULT_BAUD = 460800


class FlashError(RuntimeError):
    """Something the user can fix; the message says what and how."""


def _family_name(fid):
    return "%s (0x%08x)" % (UF2_FAMILIES.get(fid, "unknown family"), fid)


# -- UF2 checks -------------------------------------------------------------------------
def check_uf2(data, family=RP2040_FAMILY, flash_start=RP2040_FLASH_START,
              flash_size=RP2040_FLASH_MAX, name="the file"):
    """Check a whole UF2 file for one target. Returns a summary dict (blocks,
    payload_bytes, first_addr, end_addr); raises FlashError naming the first problem."""
    if len(data) == 0:
        raise FlashError("%s is empty" % name)
    if data[:4] == b"\x7fELF":
        raise FlashError("%s is an ELF file, not a UF2: use the .uf2 from the MicroPython "
                         "download page (or `picotool uf2 convert`)" % name)
    if data[0] == ESP_IMAGE_MAGIC and not data.startswith(struct.pack("<I", UF2_MAGIC0)):
        raise FlashError("%s looks like an ESP32 firmware image (.bin), not a UF2: an "
                         "RP2040 board takes the .uf2 file (or use --board esp32)" % name)
    magic0 = struct.unpack_from("<I", data, 0)[0] if len(data) >= 4 else None
    if magic0 != UF2_MAGIC0:
        raise FlashError("%s is not a UF2 file (it does not start with the UF2 magic "
                         "0x%08x); download the RP2040 .uf2 from micropython.org"
                         % (name, UF2_MAGIC0))
    if len(data) % UF2_BLOCK:
        raise FlashError("%s is truncated or damaged: %d bytes is not a whole number of "
                         "%d-byte UF2 blocks (%d whole blocks and %d bytes over); "
                         "download it again" % (name, len(data), UF2_BLOCK,
                                                len(data) // UF2_BLOCK, len(data) % UF2_BLOCK))
    nblocks = len(data) // UF2_BLOCK
    blocks = []
    # First pass: is every block a UF2 block, and for whom? (A wrong family is the more
    # useful message, so it comes before any numbering or address complaint.)
    for i in range(nblocks):
        off = i * UF2_BLOCK
        fields = struct.unpack_from("<8I", data, off)
        (m_end,) = struct.unpack_from("<I", data, off + UF2_BLOCK - 4)
        m0, m1, flags = fields[0], fields[1], fields[2]
        where = "%s, block %d (byte %d)" % (name, i, off)
        if m0 != UF2_MAGIC0 or m1 != UF2_MAGIC1 or m_end != UF2_MAGIC_END:
            raise FlashError("%s: bad UF2 magic numbers (0x%08x 0x%08x ... 0x%08x, "
                             "expected 0x%08x 0x%08x ... 0x%08x): the file is damaged"
                             % (where, m0, m1, m_end, UF2_MAGIC0, UF2_MAGIC1, UF2_MAGIC_END))
        if flags & UF2_FLAG_FILE_CONTAINER:
            raise FlashError("%s is a UF2 file container (flag 0x1000), not a firmware "
                             "image" % where)
        if not flags & UF2_FLAG_FAMILY_ID:
            raise FlashError("%s has no family id (flags 0x%08x lack 0x%08x): the bootloader "
                             "could not tell what it is for; rebuild it with a family id "
                             "(uf2conv --family 0x%08x)" % (where, flags, UF2_FLAG_FAMILY_ID,
                                                           family))
        blocks.append((where,) + fields[2:])
    families = sorted(set(b[6] for b in blocks))
    if families != [family]:
        raise FlashError("%s is for %s, not %s: wrong file for this board (get the RP2040 "
                         "build, e.g. RPI_PICO-*.uf2)"
                         % (name, " + ".join(_family_name(f) for f in families),
                            _family_name(family)))
    # Second pass: numbering and where each block writes.
    declared = blocks[0][5]
    payload, lo, hi = 0, None, None
    for i, (where, flags, addr, size, block_no, num_blocks, _fam) in enumerate(blocks):
        if num_blocks != declared:
            raise FlashError("%s says the file has %d blocks, block 0 said %d: damaged file"
                             % (where, num_blocks, declared))
        if block_no != i:
            raise FlashError("%s is numbered %d: blocks must be consecutive from 0 (a "
                             "concatenation of UF2 files, or a damaged one)" % (where, block_no))
        if flags & UF2_FLAG_NOT_MAIN_FLASH:
            continue   # the bootloader skips these
        if size == 0 or size > UF2_DATA_MAX:
            raise FlashError("%s carries %d bytes; a UF2 block carries 1..%d"
                             % (where, size, UF2_DATA_MAX))
        if addr % 256 or size % 256:
            raise FlashError("%s writes %d bytes at 0x%08x; the RP2040 bootloader takes "
                             "256-byte pages at 256-byte aligned addresses" % (where, size, addr))
        if not (flash_start <= addr and addr + size <= flash_start + flash_size):
            raise FlashError("%s targets 0x%08x..0x%08x, outside the flash "
                             "(0x%08x..0x%08x): not an RP2040 flash image"
                             % (where, addr, addr + size, flash_start, flash_start + flash_size))
        lo = addr if lo is None else min(lo, addr)
        hi = addr + size if hi is None else max(hi, addr + size)
        payload += size
    if declared != nblocks:
        what = "truncated" if declared > nblocks else "longer than it says"
        raise FlashError("%s is %s: its blocks say %d in all, the file has %d; download it "
                         "again" % (name, what, declared, nblocks))
    if lo is None:
        raise FlashError("%s has no block for the main flash" % name)
    return {"blocks": nblocks, "payload_bytes": payload, "first_addr": lo, "end_addr": hi,
            "family": family}


# -- the RP2040's bootloader drive ------------------------------------------------------
def read_info_uf2(folder):
    """INFO_UF2.TXT of a folder as a dict ("Board-ID", "Model", ...), or None."""
    path = os.path.join(folder, "INFO_UF2.TXT")
    try:
        with open(path, errors="replace") as f:
            text = f.read(4096)
    except OSError:
        return None
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
        elif line.strip() and "version" not in info:
            info["version"] = line.strip()   # "UF2 Bootloader v3.0"
    return info


def find_uf2_drives(patterns=None, extra=()):
    """Mounted UF2 bootloader drives: [{"path", "board_id", "model"}], `extra` first."""
    patterns = MOUNT_GLOBS if patterns is None else patterns
    seen, out = set(), []
    candidates = list(extra)
    for pat in patterns:
        candidates += sorted(glob.glob(pat))
    for folder in candidates:
        real = os.path.realpath(folder)
        if real in seen or not os.path.isdir(folder):
            continue
        seen.add(real)
        info = read_info_uf2(folder)
        if info is None:
            continue
        out.append({"path": folder, "board_id": info.get("Board-ID", ""),
                    "model": info.get("Model", "")})
    return out


def pick_rp2040_drive(drives, explicit=None, looked_in=None):
    """The one RPI-RP2 drive, or FlashError saying what was found instead."""
    if explicit is not None:
        mine = [d for d in drives if os.path.realpath(d["path"]) == os.path.realpath(explicit)]
        if not mine:
            raise FlashError("--drive %s has no INFO_UF2.TXT: it is not a UF2 bootloader "
                             "drive (hold BOOTSEL while plugging the Pico in, then give "
                             "the folder the RPI-RP2 drive is mounted at)" % explicit)
        drives = mine
    rp = [d for d in drives if d["board_id"] == RP2040_BOARD_ID]
    if len(rp) == 1:
        return rp[0]
    if len(rp) > 1:
        raise FlashError("%d RPI-RP2 drives are mounted (%s): pass --drive with one"
                         % (len(rp), ", ".join(d["path"] for d in rp)))
    if drives:
        raise FlashError("wrong board: the UF2 drive%s found %s %s, not an RP2040 "
                         "(Board-ID %s)" % (
                             "s" if len(drives) > 1 else "",
                             "are" if len(drives) > 1 else "is",
                             "; ".join("%s (Board-ID %s, %s)" % (d["path"], d["board_id"] or "?",
                                                                d["model"] or "?")
                                       for d in drives), RP2040_BOARD_ID))
    raise FlashError(
        "no RPI-RP2 drive found (looked in %s). Hold BOOTSEL while plugging the Pico in, "
        "or pass --port of a running MicroPython board to send it to its bootloader; if "
        "nothing mounts USB drives here, mount it yourself and pass --drive PATH"
        % ", ".join(MOUNT_GLOBS if looked_in is None else looked_in))


def enter_bootloader(port, timeout=10.0):
    """Ask a running MicroPython board to reboot into its UF2 bootloader. The board drops
    the USB link as it goes, so mpremote usually reports an error even when it worked:
    returns that message (or None) for the caller to show if no drive appears."""
    from host_tools import mpremote_io, ports
    for p in ports.find_ports(include_unknown=True):
        if os.path.realpath(p["port"]) != os.path.realpath(port):
            continue
        if p["virtual"]:
            raise FlashError("%s is a virtual board: it has no flash and no bootloader" % port)
        if p["board"] not in (None, "pico"):
            raise FlashError("wrong board: %s is a %s (%s), not a Pico; use --board %s"
                             % (port, p["kind"], p["vid_pid"], p["board"]))
    try:
        mpremote_io.exec_(port, "import machine; machine.bootloader()", timeout=timeout)
    except mpremote_io.MpremoteError as e:
        if "no board at" in str(e):
            raise FlashError(str(e)) from None
        return str(e)
    return None


def wait_for_drive(find, timeout=DRIVE_WAIT_S, poll_s=0.25):
    """Poll find() (a list of drives) until one has Board-ID RPI-RP2, or timeout."""
    end = time.monotonic() + timeout
    while True:
        drives = find()
        if any(d["board_id"] == RP2040_BOARD_ID for d in drives):
            return drives
        if time.monotonic() >= end:
            return drives
        time.sleep(poll_s)


def copy_to_drive(image, drive, data=None):
    """Copy the UF2 onto the drive (write, flush, fsync). Returns the target path.
    The RP2040 reboots once the last block lands, sometimes before the host has closed
    the file: an error at fsync/close after every byte was written is not a failure."""
    if data is None:
        with open(image, "rb") as f:
            data = f.read()
    dest = os.path.join(drive, os.path.basename(image))
    f = open(dest, "wb")
    try:
        f.write(data)
        f.flush()
    except OSError:
        f.close()
        raise
    try:
        os.fsync(f.fileno())
        f.close()
    except OSError as e:
        print("note: %s went away while the copy was being closed (%s): the board has "
              "most likely rebooted into the new firmware" % (drive, e), file=sys.stderr)
    return dest


def flash_rp2040(image, drive=None, port=None, patterns=None, wait_s=DRIVE_WAIT_S,
                 log=print):
    """Check and copy a UF2 to the RPI-RP2 drive. Returns the destination path.
    patterns: where to look for the drive (default MOUNT_GLOBS)."""
    patterns = MOUNT_GLOBS if patterns is None else patterns
    with open(image, "rb") as f:
        data = f.read()
    summary = check_uf2(data, name=os.path.basename(image))
    log("%s: %d UF2 blocks, %d KiB for RP2040 at 0x%08x..0x%08x"
        % (os.path.basename(image), summary["blocks"], summary["payload_bytes"] // 1024,
           summary["first_addr"], summary["end_addr"]))
    extra = (drive,) if drive else ()

    def find():
        return find_uf2_drives(() if drive else patterns, extra)

    drives = find()
    if not any(d["board_id"] == RP2040_BOARD_ID for d in drives) and port and not drive:
        log("no RPI-RP2 drive; asking the board on %s to enter its bootloader" % port)
        said = enter_bootloader(port)
        drives = wait_for_drive(find, wait_s)
        if not any(d["board_id"] == RP2040_BOARD_ID for d in drives):
            raise FlashError("the board on %s did not come back as an RPI-RP2 drive within "
                             "%.0f s. If nothing auto-mounts USB drives here, mount it and "
                             "pass --drive PATH; or hold BOOTSEL while plugging it in.%s"
                             % (port, wait_s, "\nmpremote said: " + said if said else ""))
    target = pick_rp2040_drive(drives, explicit=drive, looked_in=patterns)
    dest = copy_to_drive(image, target["path"], data)
    log("copied %s to %s (%s); the board reboots into MicroPython. Next: `cycler ports`, "
        "then `cycler deploy --board pico --port PORT`"
        % (os.path.basename(image), target["path"], target["model"] or "RPI-RP2"))
    return dest


# -- ESP32 ---------------------------------------------------------------------------
def chip_for_id(chip_id):
    for name, (cid, _off) in ESP_CHIPS.items():
        if cid == chip_id:
            return name
    return None


def check_esp_image(data, chip=None, offset=None, name="the image"):
    """Check an ESP32 firmware.bin before anything touches a board: header magic, the
    chip id of its extended header against --chip, and that it is the whole firmware
    (bootloader .. partition table) when it goes to the chip's default offset.
    Returns (chip, offset)."""
    if data[:4] == struct.pack("<I", UF2_MAGIC0):
        fam = struct.unpack_from("<I", data, 28)[0] if len(data) >= 32 else 0
        raise FlashError("%s is a UF2 file (%s); esptool writes .bin images: download the "
                         "ESP32 firmware .bin (or use --board pico for an RP2040 .uf2)"
                         % (name, _family_name(fam)))
    if len(data) < ESP_HEADER_LEN or data[0] != ESP_IMAGE_MAGIC:
        raise FlashError("%s is not an ESP32 firmware image: it must start with the image "
                         "magic 0x%02x (got %s)" % (name, ESP_IMAGE_MAGIC,
                                                   "0x%02x" % data[0] if data else "an empty file"))
    chip_id = struct.unpack_from("<H", data, 12)[0]
    image_chip = chip_for_id(chip_id)
    if image_chip is None:
        raise FlashError("%s has chip id %d in its header, which is none of %s"
                         % (name, chip_id, ", ".join("%s=%d" % (c, v[0])
                                                     for c, v in ESP_CHIPS.items())))
    if chip is not None and chip != image_chip:
        raise FlashError("wrong chip: %s is built for %s (chip id %d), not %s (chip id %d); "
                         "download the %s firmware, or drop --chip"
                         % (name, image_chip, chip_id, chip, ESP_CHIPS[chip][0], chip))
    chip = image_chip
    default_offset = ESP_CHIPS[chip][1]
    if offset is None:
        offset = default_offset
        table = ESP_PARTITION_TABLE_AT - offset
        if data[table:table + 2] != ESP_PARTITION_MAGIC:
            raise FlashError(
                "%s has no partition table at 0x%x (file byte 0x%x): it is not the whole "
                "MicroPython firmware.bin that goes to 0x%x on %s, maybe just the "
                "application (micropython.bin, for 0x10000). Use the download page's .bin, "
                "or pass --offset if you know better" % (name, ESP_PARTITION_TABLE_AT,
                                                        table, offset, chip))
    return chip, offset


def esptool_args(chip, port, image, offset, baud=DEFAULT_BAUD):
    """The esptool 5.x command line (for esptool.main) that writes IMAGE at OFFSET.
    --chip is explicit, so esptool itself refuses a board with another chip."""
    return ["--chip", chip, "--port", port, "--baud", str(int(baud)),
            "--before", "default-reset", "--after", "hard-reset",
            "write-flash", "0x%x" % offset, image]


_WRONG_CHIP = re.compile(r"This chip is (\S+), not (\S+)\.")


def flash_esp32(image, port, chip=None, offset=None, baud=DEFAULT_BAUD, log=print):
    """Check the image, then write it with esptool (which draws its own progress bar,
    rendered with rich)."""
    with open(image, "rb") as f:
        data = f.read()
    chip, offset = check_esp_image(data, chip, offset, name=os.path.basename(image))
    if not port:
        raise FlashError("no --port given: the image is fine for %s at 0x%x, but esptool "
                         "needs the board's serial port (`cycler ports` lists them)"
                         % (chip, offset))
    argv = esptool_args(chip, port, image, offset, baud)
    log("writing %s (%d KiB, %s) at 0x%x on %s: esptool %s"
        % (os.path.basename(image), len(data) // 1024, chip, offset, port, " ".join(argv)))
    import esptool
    from esptool.util import FatalError
    try:
        esptool.main(argv)
    except FatalError as e:
        m = _WRONG_CHIP.search(str(e))
        if m:
            raise FlashError("wrong chip: the board on %s is an %s, the image is for %s; "
                             "nothing was written. Download the %s firmware"
                             % (port, m.group(1), m.group(2), m.group(1))) from None
        raise FlashError("esptool: %s" % e) from None
    except SystemExit as e:
        raise FlashError("esptool refused the arguments %r (exit %s)" % (argv, e.code)) from None
    log("done: the board restarts into MicroPython. Next: `cycler deploy --board esp32 "
        "--port %s`" % port)


# -- the `cycler flash` command ------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--board", required=True, choices=("pico", "esp32"),
                        help="pico: RP2040 .uf2 copied to the RPI-RP2 drive; "
                             "esp32: .bin written with esptool")
    parser.add_argument("image", metavar="IMAGE", help="the MicroPython .uf2 or .bin file")
    parser.add_argument("--drive", default=None,
                        help="pico: the folder the RPI-RP2 drive is mounted at "
                             "(default: looked for in %s)" % ", ".join(MOUNT_GLOBS))
    parser.add_argument("--port", default=None,
                        help="pico: a running board to send to its bootloader first; "
                             "esp32: the serial port esptool uses (required)")
    parser.add_argument("--chip", default=None, choices=sorted(ESP_CHIPS),
                        help="esp32: the chip (default: the one the image is built for)")
    parser.add_argument("--offset", default=None, type=lambda s: int(s, 0),
                        help="esp32: flash offset (default: 0x1000 for esp32/esp32s2, "
                             "0x0 for the others)")
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                        help="esp32: baud rate for writing (default %d)" % DEFAULT_BAUD)
    parser.add_argument("--wait", type=float, default=DRIVE_WAIT_S,
                        help="pico: seconds to wait for the drive after --port's board "
                             "reboots (default %.0f)" % DRIVE_WAIT_S)


def run(args):
    if not os.path.isfile(args.image):
        print("cycler flash: no file %s" % args.image, file=sys.stderr)
        return 2
    try:
        if args.board == "pico":
            for opt in ("chip", "offset"):
                if getattr(args, opt) is not None:
                    raise FlashError("--%s is for --board esp32" % opt)
            flash_rp2040(args.image, drive=args.drive, port=args.port, wait_s=args.wait)
        else:
            if args.drive:
                raise FlashError("--drive is for --board pico (an ESP32 is written over "
                                 "its serial port)")
            flash_esp32(args.image, args.port, chip=args.chip, offset=args.offset,
                        baud=args.baud)
    except FlashError as e:
        print("cycler flash: %s" % e, file=sys.stderr)
        return 1
    return 0
