# The `sim` board: the cell model (simulation/cellmodel.py) behind the front-end model
# (simulation/femodel.py), on a virtual clock that runs up to `speed` times faster than
# real time. Same interface as a real board file, so main.py and the runtime cannot
# tell; it is what `cycler sim-board` runs inside the real micropython executable.
# Data first, factories last.
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

NAME = "sim"
# What this board's image holds (`cycler deploy`; folders of the repository, each
# module by its flat name at the board's `/`). The virtual board also carries the
# cell and front-end models it measures.
MANIFEST = ("firmware/core", "firmware/board", "simulation")
# Ranges as on the Pico board (boards/pico.py): 20 uA .. 20 mA full scale, ascending.
# FACTS: the paper's tester has 20 mA channels; the fig4 cell's C/46 is 1.8 uA.
RANGES_NA = (20000, 200000, 2000000, 20000000)
I_MAX_NA = const(20000000)
# The smallest termination current accepted: at least I_FLOOR_MIN_NA, raised per profile
# by setup() to its termination floor (termination_floor_nA below; C/76 of fig4, 1.10
# uA, FACTS, passes on the recommended build: 500 nA).
I_FLOOR_MIN_NA = const(500)
I_FLOOR_NA = I_FLOOR_MIN_NA
# The voltage and current readings' figures come from the front-end profile
# (DEFAULT_BOARD below, simulation/feprofiles.py).
# The most the front-end measures: no trip may lie above it (every profile's span
# reaches past 5 V at the cell, simulation/feprofiles.py).
V_CELL_MAX_UV = const(5000000)
TICK_MS = const(100)
# Records kept for replay: the unix port has RAM to spare, so a host that is away for
# a while at a high --speed still gets everything back (a Pico keeps 512).
RING_N = const(8192)
# Front-end fault detection (firmware/core/safety.py, docs/reliability.md):
# - the measured current may differ from the command by 10 % of it, but at least 2 % of
#   the range's full scale: the model's offset (0.02 % FS), gain error (0.1 %), DAC
#   quantisation (12 bits: 0.05 % FS) and noise (0.01 % FS rms) stay 20x below it;
# - a voltage reading identical for 30 ticks while current is driven is a frozen ADC:
#   the sum of 4 samples with 150 uV rms noise on a 76 uV LSB repeats with p < 0.1 per
#   tick, so 30 in a row (p < 1e-30) never happens with a working ADC.
MISMATCH_PCT = const(10)
MISMATCH_FS_PCT = 2   # raised per profile by setup() (channel_figures)
STUCK_TICKS = 30      # 0 by setup() where the profile's noise cannot show a frozen ADC
# The virtual board's heap (`cycler sim-board --heap N`: N is the board's heap). The cell
# and front-end models are this board's hardware: a real board's image holds none of
# them, so their heap must not count against the board's. The launcher gives the process
# N + SIM_HEAP_B (host_tools/simboard.py); prepare() builds the models first at boot,
# measures what they took (gc.mem_alloc) and holds a ballast block of the rest of
# SIM_HEAP_B, so the firmware that follows sees N. Measured on the unix port
# (benchmarks/heap_footprint.py, docs/reliability.md "Memory"): femodel 8.4 KB, cellmodel
# 10.8 KB, this file 6.5 KB; 27.6 KB with the models built. Issue 13's cell model (24.8
# KB imported) brings the models to ~45 KB built; with session 5's charge-only
# resistance and lithiation lag ~52 KB (64 KB left 12.2 KB: tests/test_heap_boot.py
# wants 12 KB to spare), so 80 KB holds them with ~28 KB to spare.
# Too small: boot fails naming it.
SIM_HEAP_B = const(81920)
# Test-only: the sim board reads this file (in its folder) every INJECT_POLL measures and
# injects the fault named in it (femodel.FAULT_KINDS; "clear" clears them), then removes it.
INJECT_FILE = "inject.txt"
INJECT_POLL = const(10)
# The cell outlives the firmware: its state (cellmodel state()) is kept in this file of
# the board folder every CELL_SAVE_POLL measures (10 s at the 10 Hz tick) and read back
# at boot, so a reset or a killed firmware process finds the cell as it left it.
CELL_FILE = "cell_state.txt"
CELL_SAVE_POLL = const(100)
DEFAULT_CELL = "fig4"
DEFAULT_SPEED = const(100)
# The cell starts discharged at the pristine cathode's open circuit (FACTS: 2.71 V).
SOC0 = 0.02


# The front-end profile the virtual board runs (board_config.profile, set by `cycler
# sim-board --board PROFILE`; simulation/
# feprofiles.py): the recommended build unless told otherwise.
DEFAULT_BOARD = "pico-ads1115"
# Modules only the models' build reads (prepare() drops them before it measures what the
# models keep: the profiles' table is gone before the firmware loads)
SETUP_ONLY = ("feprofiles",)
# What the firmware is told about the profile's voltage reading (main.py reads these
# after setup(), which sets them from the profile): the rms noise of one tick's reading
# and its error bound after calibration (firmware/core/channel.py).
V_NOISE_UV = 0
V_ERR_UV = 0
HOLD_I_MAX_NA = 0


def channel_figures(board=None):
    """The Channel's keyword arguments for a profile: the floor of termination currents,
    detection thresholds, and the voltage reading's noise and error bound."""
    import feprofiles
    p = feprofiles.get(board or DEFAULT_BOARD)
    floor = termination_floor_nA(board)
    # the mismatch bound: twice the output's own error (offset + drift + half a DAC
    # code, of full scale), at least MISMATCH_FS_PCT: an 8-bit DAC on 3V3 needs 5 %
    out_err = p["out_offset_frac"] + p["drift_frac"] + 0.5 / p["dac_codes_fs"]
    fs_pct = int(200 * out_err) + 1
    # a frozen reading is told from a live one only where the noise dithers the ADC
    # (>= 1 LSB per sample) and no wide code can hold it (RP2040-E11): else off
    v_lsb = p["v_span_uV"] / (1 << p["v_bits"])
    stuck = STUCK_TICKS if (p["v_noise_uV"] >= v_lsb and not p.get("dnl_spikes")) else 0
    return {"i_floor_nA": floor, "hold_i_max_nA": hold_i_max_nA(board),
            "mismatch_pct": MISMATCH_PCT,
            "mismatch_fs_pct": fs_pct if fs_pct > MISMATCH_FS_PCT else MISMATCH_FS_PCT,
            "stuck_n": stuck, "v_noise_uV": feprofiles.tick_noise_uV(board),
            "v_err_uV": p["v_err_uV"]}


# The termination floor (the board file's I_FLOOR_NA; protocol.py refuses a hold whose
# end current is below it): the profile's measured i_end_min_nA (simulation/
# feprofiles.py: the smallest end current a hold ends on with the TRUE current within
# 5 %, benchmarks/fe_profiles.py), at least I_FLOOR_MIN_NA; a profile that ends no hold
# within 5 % (None) gets a floor above its HOLD_I_MAX_NA: it takes no hold.
def termination_floor_nA(board=None):
    import feprofiles
    i = feprofiles.get(board or DEFAULT_BOARD)["i_end_min_nA"]
    if i is None:
        return hold_i_max_nA(board) + 10
    return i if i > I_FLOOR_MIN_NA else I_FLOOR_MIN_NA


def hold_i_max_nA(board=None):
    """A hold's current: up to 90 % of the largest range whose DAC code is <= 2.6 uA
    (12 bits: the 2 mA range, 1.6 uA; 8 bits: the 200 uA range, 2.58 uA)."""
    import feprofiles
    p = feprofiles.get(board or DEFAULT_BOARD)
    hold_max = 0
    for fs in RANGES_NA:
        if fs / p["dac_codes_fs"] <= 2600:
            hold_max = fs * 9 // 10
    return hold_max


class VirtualClock:
    """ticks_ms()-like virtual time. sleep_ms(ms) advances it by exactly ms and sleeps
    ms / speed of real time: the run is deterministic, `speed` is an upper bound."""

    def __init__(self, speed=DEFAULT_SPEED):
        import time
        from units import TICKS_MASK   # ticks_ms() wraps where the board's does
        self._time = time
        self._mask = TICKS_MASK
        self.speed = speed if speed > 0 else 1
        self.now_ms = 0

    def ticks_ms(self):
        return self.now_ms & self._mask

    def sleep_ms(self, ms):
        self.now_ms += ms
        real = ms // self.speed
        if real > 0:
            self._time.sleep_ms(real)


class SimFrontEnd:
    """The front-end model, advanced on the virtual clock before each measurement."""

    def __init__(self, model, clock):
        self.model = model
        self.clock = clock
        self._t_ms = clock.now_ms
        self.ranges_nA = model.ranges_nA
        self.v_uV = self.i_nA = self.v_raw = self.i_raw = 0
        self.inject_file = None   # make_frontend sets it on the virtual board
        self._n_poll = 0
        self.cell_file = None     # and this (CELL_FILE)
        self._n_save = 0

    @property
    def range_index(self):
        return self.model.range_index

    def measure(self):
        now = self.clock.now_ms
        dt = now - self._t_ms
        self._t_ms = now
        if dt > 0:
            self.model.advance(dt)
        if self.inject_file is not None:
            self._n_poll += 1
            if self._n_poll >= INJECT_POLL:
                self._n_poll = 0
                self._poll_inject()
        if self.cell_file is not None:
            self._n_save += 1
            if self._n_save >= CELL_SAVE_POLL:
                self._n_save = 0
                save_cell(self.model.cell, self.cell_file)
        m = self.model
        m.measure()
        self.v_uV, self.i_nA = m.v_uV, m.i_nA
        # raw = the nominal, uncalibrated reading in uV and nA (as boards/pico.py gives)
        n = m.oversample
        k = m.range_index
        self.v_raw = int(round(m.v_raw * m.v_lsb_uV / n))
        self.i_raw = int(round(m.i_raw * m.ranges_nA[k] / (m.i_code_max + 1) / n))

    def set_calibration(self, cal):
        """Apply a calibration.Calibration to the current readings (the model's voltage
        input has no gain or offset error, so its calibration is not applied)."""
        m = self.model
        self.calib = cal
        for k in range(len(m.ranges_nA)):
            g = cal.i_gain_ppm[k] / 1e6
            m.cal_gain[k] = 1.0 / g
            m.cal_offset_nA[k] = -cal.i_offset_nA[k] / g

    def set_current_nA(self, i_nA):
        self.model.set_current_nA(i_nA)

    def off(self):
        self.model.off()

    def select_range(self, n):
        self.model.select_range(n)

    @property
    def on(self):
        return self.model.on

    # the cell-disconnect relay (simulation/femodel.py models it)
    def connect(self):
        self.model.connect()

    def disconnect(self):
        self.model.disconnect()

    @property
    def connected(self):
        return self.model.connected

    # --- faults on purpose (tests; docs/reliability.md) --------------------------
    def inject(self, kind):
        self.model.inject(kind)

    def clear_faults(self):
        self.model.clear_faults()

    def _poll_inject(self):
        import os
        try:
            with open(self.inject_file) as f:
                kinds = f.read().split()
        except OSError:
            return
        if not kinds:   # created but not yet written (a writer between open and write):
            return      # removing it now would lose what comes; read it next time
        try:
            os.remove(self.inject_file)
        except OSError:
            pass
        for k in kinds:
            try:
                if k == "clear":
                    self.clear_faults()
                else:
                    self.inject(k)
            except ValueError as e:
                print("sim: %s" % e)


def make_clock(config=None):
    return VirtualClock(getattr(config, "speed", DEFAULT_SPEED))


def make_model(cell, seed=1, profile=None, **overrides):
    """The front-end model of this board around `cell` (a cellmodel cell): the one place
    the virtual board and `cycler simulate` get it from. profile: the front-end profile
    (simulation/feprofiles.py; None: DEFAULT_BOARD, the recommended build);
    `overrides`: femodel FrontEndModel keywords (tests)."""
    import femodel
    import feprofiles
    board = profile or DEFAULT_BOARD
    kw = dict(ranges_nA=RANGES_NA, seed=seed, range_index=len(RANGES_NA) - 1,
              profile=board)
    kw.update(feprofiles.model_kwargs(board))
    kw.update(overrides)
    return femodel.FrontEndModel(cell, **kw)


def save_cell(cell, path):
    """The cell's state to `path` (written to a temp file, then renamed)."""
    import os
    try:
        with open(path + ".tmp", "w") as f:
            f.write(" ".join(repr(float(x)) for x in cell.state()))
        os.rename(path + ".tmp", path)
    except OSError:
        pass


def load_cell(cell, path):
    """The state save_cell() kept, if any; True if the cell took it."""
    try:
        with open(path) as f:
            st = [float(x) for x in f.read().split()]
        if len(st) == len(cell.state()):
            cell.set_state(st)
            return True
    except (OSError, ValueError):
        pass
    return False


def make_frontend(config=None, clock=None, seed=1, inject_file=None, cell_file=None):
    import cellmodel
    cell = cellmodel.make_cell(getattr(config, "cell", DEFAULT_CELL))
    if cell_file is None or not load_cell(cell, cell_file):
        cell.set_soc(SOC0)
    model = make_model(cell, seed, getattr(config, "profile", None))
    fe = SimFrontEnd(model, clock if clock is not None else make_clock(config))
    fe.inject_file = inject_file
    fe.cell_file = cell_file
    return fe


def reset_cause():
    return "power_on"


_BUILT = None     # (clock, fe): the models prepare() built
_BALLAST = None   # what the models left of SIM_HEAP_B, held so the firmware cannot use it


def _build(config):
    global V_NOISE_UV, V_ERR_UV, I_FLOOR_NA, MISMATCH_FS_PCT, STUCK_TICKS, HOLD_I_MAX_NA
    f = channel_figures(getattr(config, "profile", None))
    V_NOISE_UV, V_ERR_UV, I_FLOOR_NA = f["v_noise_uV"], f["v_err_uV"], f["i_floor_nA"]
    HOLD_I_MAX_NA = f["hold_i_max_nA"]
    MISMATCH_FS_PCT, STUCK_TICKS = f["mismatch_fs_pct"], f["stuck_n"]
    clock = make_clock(config)
    fe = make_frontend(config, clock, seed=getattr(config, "seed", 1),
                       inject_file=INJECT_FILE if config is not None else None,
                       cell_file=CELL_FILE if config is not None else None)
    return clock, fe


def prepare(config=None, heap0_b=0, drop=None):
    """At boot, before any firmware module (main.py): build the models, and when the
    launcher set the board's heap (board_config.heap_b) hold SIM_HEAP_B minus what they
    took, measured from heap0_b (gc.mem_alloc() before this file was imported), after
    drop(name) forgot the SETUP_ONLY modules. Returns the bytes the simulation took (0
    when not measured)."""
    global _BUILT, _BALLAST
    import gc
    gc.collect()
    a = gc.mem_alloc()
    import units    # firmware (the virtual clock wraps where ticks_ms() does): not counted
    gc.collect()
    fw_b = gc.mem_alloc() - a
    _BUILT = _build(config)
    if drop is not None:
        for name in SETUP_ONLY:
            drop(name)
    if not getattr(config, "heap_b", 0):
        return 0
    allowance = getattr(config, "sim_heap_b", SIM_HEAP_B)
    gc.collect()
    used = gc.mem_alloc() - heap0_b - fw_b
    if used > allowance:
        raise MemoryError("the simulation (cell and front-end models, boards/sim.py) took "
                          "%d B of the virtual board's heap, more than the %d B allowed for "
                          "it: raise boards/sim.py SIM_HEAP_B (the launcher gives the process "
                          "the board's heap + SIM_HEAP_B)" % (used, allowance))
    if allowance - used > 0:
        _BALLAST = bytearray(allowance - used)
    return used


def setup(config=None):
    from hardware import Hardware
    global _BUILT
    if _BUILT is not None:
        clock, fe = _BUILT
        _BUILT = None
    else:
        clock, fe = _build(config)
    return Hardware(fe, clock, None, reset_cause(), getattr(config, "tick_ms", TICK_MS))
