"""`cycler simulate PROTOCOL --cell NAME [--out DIR]`: the firmware's own channel
(safety, engine, regulator, accounting) tick by tick in CPython, closed loop with the
cell model (simulation/cellmodel.py) seen through the front-end model (simulation/femodel.py)
and the firmware's autoranging, on a virtual clock.

The tick adapts (Sim.next_dt; docs/cellmodel.md has the figures): 1 s at a step's start
(the engine's resistance probe) and through a hold's hand-over; in CC up to 2 min (the
engine's MAX_DT_MS) and 1 % of the capacity (rows for the V-Q curve), cut near the end
voltage so that no tick steps more than 1 mV past it (the model's bound on the voltage's
move, then a trial step of the deterministic model: the discharge knee), down to the sim
board's 100 ms; in a hold up to 2 min, halved until a trial step ends within 2 mV of the
held voltage (1 mV near the end current), so the regulator, whose gain was set on 1-2 s
ticks, neither kicks nor rings; a sweep's setpoint moves at most 0.1 mV a tick (1 s at
0.1 mV/s, the board's 100 ms from 1 mV/s), and a sweep whose loop knows the cell's R
runs on the board's tick; a rest in one tick. A hold's command aims at the voltage
at the end of the coming tick (the regulator's look-ahead): the tick is picked after the
channel's tick, so the command is aimed again over it (firmware/core/loop.py reaim), in
each trial step too. tests/test_simulate.py and tests/test_simulate_tick.py check the
capacities against a fixed 1 s tick.
"""
import os
import sys
import time

import host_tools  # noqa: F401  (firmware on sys.path)

from units import TICKS_MASK  # noqa: E402  (the board's tick counter wraps there)
from loop import control_tick as _control_tick  # noqa: E402  (the board's one loop)
from loop import reaim as _reaim  # noqa: E402

BASE_DT_MS = 1000
MAX_DT_MS = 1800000      # CC, CR, rest (the engine's max_dt_ms raised to it: Sim)
MAX_HOLD_DT_MS = 120000  # CV, sweep
IDLE_TICKS = 5             # board ticks before `start` (Sim.start)
IDLE_TICK_MS = 100
SAMPLE_S = 30.0            # a BDF row every 30 s of test time, and at every step end
MIN_DT_MS = 100          # the shortest tick: the sim board's (boards/sim.py TICK_MS)
END_OVERSHOOT_UV = 1000  # a CC tick steps at most this far past its end voltage,
ROW_Q_FRAC = 0.01        # and passes at most this share of the capacity
HOLD_WINDOW_UV = 2000    # a hold tick ends at most this far from the held voltage,
END_WINDOW_UV = 1000     # and at most the regulator's band once the current is within
END_NEAR_FRAC = 1.0      # this share of its end current (a quiet loop ends as 1 s does:
                         # on fig4 1 mV moves a hold's current by 0.8-1.6 uA, about its
                         # end current, and a 2 mV swing near the end ended holds early)
HOLD_SHRINK = 0.9        # a hold tick whose trial missed: cut to this share of the tick the
HOLD_SHRINK_MIN = 0.25   # miss's square law allows, at least to this share
SWEEP_STEP_UV = 100      # a sweep's setpoint moves at most this far a tick: 1 s ticks up
                         # to 0.1 mV/s, shorter ones down to the board's 100 ms from 1 mV/s
                         # (1 s ticks at 1 mV/s rang through every range switch)
PROBE_ROW_MS = 2 * BASE_DT_MS  # and one this far into each step: where the engine's R
                               # probe reads the voltage step (plot.resistances uses it)


def add_arguments(p):
    p.add_argument("protocol", help="protocol file (TOML), or the name of a shipped one "
                   "(e.g. quick, fig4_rate_test)")
    p.add_argument("--cell", help="cell model: fig4, fig5b-cell2, raman, tofsims, max, or "
                   "a cell file from `cycler fit` (CELL.toml) (default: the protocol's [cell] name)")
    p.add_argument("--out", default=None, help="output folder (default out/<protocol>-<cell>)")
    p.add_argument("--fixed-tick-ms", type=int, default=0,
                   help="run every tick at this period instead of adapting it")
    p.add_argument("--seed", type=int, default=1, help="noise seed of the front-end model")
    p.add_argument("--sample-s", type=float, default=SAMPLE_S,
                   help="time-series period in seconds (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no live progress, no table")
    p.add_argument("--board", default=None, help="front-end profile: pico-ads1115 (the "
                   "recommended build, default), pico-internal, esp32-ads1115, "
                   "esp32-internal (simulation/feprofiles.py)")


class Sim:
    """The closed loop: channel + autoranging + front-end model + cell model."""

    def __init__(self, lines, cell_name="fig4", seed=1, cell=None, fe_kwargs=None,
                 board=None, channel_kwargs=None):
        """board: a front-end profile (simulation/feprofiles.py; None: the default,
        the recommended build); fe_kwargs override its figures, channel_kwargs the
        channel's (e.g. v_noise_uV=0 for the firmware that did not know its noise)."""
        import cellmodel
        import feprofiles
        from channel import Channel
        from autorange import AutoRange
        from boards import sim as simboard

        self.cell = cell if cell is not None else cellmodel.make_cell(cell_name)
        if cell is None:
            self.cell.set_soc(simboard.SOC0)
        self.board = board or feprofiles.DEFAULT
        kw = {"fast": True}  # one noise draw per input per tick (femodel FrontEndModel.measure)
        kw.update(fe_kwargs or {})
        self.fe = simboard.make_model(self.cell, seed, self.board, **kw)
        self.ranger = AutoRange(self.fe.ranges_nA, index=self.fe.range_index)
        ckw = simboard.channel_figures(self.board)
        ckw.update(channel_kwargs or {})
        self.ch = Channel(simboard.I_MAX_NA, ckw.pop("i_floor_nA"), **ckw)
        self.ch.load_lines(lines)
        # the board's engine counts a tick of at most 2 min (a longer gap is a stall);
        # here a CC tick is as long as its rows and its end voltage allow (next_dt)
        self.ch.engine.max_dt_ms = MAX_DT_MS
        self.now_ms = 0        # test time (not wrapped)
        self._prev_v = None
        self._prev_i = None
        self._prev_dt = BASE_DT_MS

    def start(self):
        # the board idles a few ticks before a run (as it does between boot and
        # `start`): the ranging leaves the boot range for the one the idle current fits,
        # so the first step does not start on the 20 mA range's output offset
        for _ in range(IDLE_TICKS):
            self.tick()
            self.advance(IDLE_TICK_MS)
        self.ch.start(self.now_ms & TICKS_MASK)
        self._apply()

    def _apply(self):
        ch, fe = self.ch, self.fe
        if ch.out_on:
            fe.set_current_nA(ch.out_i_nA)
        else:
            fe.off()

    def tick(self):
        """Measure, autorange, tick the channel, apply: one control tick at now_ms."""
        if not _control_tick(self.fe, self.ch, self.ranger, self.now_ms & TICKS_MASK):
            import safety
            self.ch.trip(safety.EXTERNAL, self.fe.v_uV, self.fe.i_nA)   # as the board does

    def running(self):
        import engine
        return self.ch.engine.state == engine.RUNNING

    def next_dt(self):
        """How long until the next tick (ms): see the module's docstring."""
        import protocol
        e = self.ch.engine
        s = e.step
        v, i = e.v_uV, e.i_f_nA
        dt = BASE_DT_MS
        # the first ticks of a step stay short: the engine's R probe reads the voltage
        # step two ticks after a current step, and a long tick would add drift to it
        if (s is not None and self._prev_v is not None and self.ranger.settling is False
                and e.step_ms >= 3 * BASE_DT_MS):
            pdt = self._prev_dt
            if s.kind == protocol.REST:
                dt = s.t_max_ms - e.step_ms if s.t_max_ms else MAX_DT_MS
            elif s.kind in (protocol.CC, protocol.CR):
                # the current is constant over a tick and the model integrates it
                # exactly, so the tick's length is free until the end voltage (there
                # _end_bound keeps every tick from stepping over it, the discharge
                # knee); but a row is written at a tick, so a tick passes at most
                # ROW_Q_FRAC of the capacity: 100 points on a full V-Q curve at any rate
                dt = MAX_DT_MS
                if i:
                    dt = int(ROW_Q_FRAC * self.cell.capacity_As / (abs(i) * 1e-9) * 1000)
            elif s.kind == protocol.CV:
                di = abs(i - self._prev_i) / pdt  # nA per ms
                above = abs(i) - s.i_end_nA
                if e.step_ms < 10000 or e.reg.noisy:
                    # the hand-over transient; and a board whose one reading is
                    # noisier than the regulator's NOISY_UV keeps its holds on 1 s
                    # ticks: it filters the run-on over 8 ticks, and a noisy reading's
                    # command held for a long tick took pico-internal 47 mV past
                    dt = BASE_DT_MS
                elif above <= 0:
                    dt = 2 * BASE_DT_MS   # qualifying the end: 3 ticks and 5 s
                else:
                    # a fifth of the time left to the termination current, so the hold
                    # ends within a short tick of it; at most twice the last tick, and
                    # (_hold_bound) no longer than keeps the voltage inside the
                    # regulator's noise band
                    dt = min(2 * pdt, MAX_HOLD_DT_MS)
                    if di > 0:
                        dt = min(dt, int(above / di / 5))
                    near = above < END_NEAR_FRAC * s.i_end_nA
                    dt = self._hold_bound(s, dt, END_WINDOW_UV if near else HOLD_WINDOW_UV)
            elif s.kind == protocol.SWEEP:
                dt = BASE_DT_MS
            if s.t_max_ms:
                left = s.t_max_ms - e.step_ms
                if 0 < left < dt:
                    dt = left
        dt = max(BASE_DT_MS, min(MAX_DT_MS, dt))
        if s is not None and s.kind == protocol.SWEEP:
            # a fast sweep: ticks short enough for the ramp, down to the board's own;
            # and any sweep on the board's tick once its loop knows the cell's R (a CC
            # step before it, or a fast sweep's opening probe: engine._begin): that
            # loop is fast, and over a longer tick the cell's RC answers within the tick
            # and it over-corrects where the lithiation lag's resistance peaks (a
            # 0.1 mV/s sweep after a CC step rang 160 mV past its ramp on 1 s ticks,
            # within 1.7 mV on 100 ms); the default R's slow loop follows on 1 s
            fast = SWEEP_STEP_UV * 1000 // s.rate_uV_s
            if e.reg.r_seen:
                fast = MIN_DT_MS
            if fast < dt:
                dt = fast if fast > MIN_DT_MS else MIN_DT_MS
        if s is not None and s.kind in (protocol.CC, protocol.CR) and e.step_ms > 0:
            dt = self._end_bound(s, dt)
        # a hold's command aims at the voltage at the end of the coming tick: over dt,
        # known only now (the regulator looked ahead over the tick that has passed)
        if not _reaim(self.fe, self.ch, self.ranger, self.now_ms & TICKS_MASK, dt):
            import safety
            self.ch.trip(safety.EXTERNAL, self.fe.v_uV, self.fe.i_nA)
        self._prev_v, self._prev_i, self._prev_dt = v, i, dt
        return dt

    def _end_bound(self, s, dt):
        """dt (ms) shortened so that the tick moves the TRUE voltage at most
        END_OVERSHOOT_UV past the step's end voltage (from where it is, if already
        past), down to MIN_DT_MS (the board's own tick). Far from the end the model's
        cheap bound on the move (CellModel.dv_bound_V) clears the tick; near it a trial
        step of the model (from its saved state, then put back: the model is
        deterministic, so the tick will do exactly this) finds where the tick lands,
        and the tick is cut to land just past the engine's trigger (the end voltage
        less a hand-over's noise band) instead of stepping over a knee."""
        cell = self.cell
        bound = getattr(cell, "dv_bound_V", None)
        if bound is None:
            return dt
        i_A = self.fe.out_i_nA * 1e-9
        up = i_A > 0
        v = cell.v_V * 1e6
        margin = (s.until_uV - v) if up else (v - s.until_uV)
        allowed = (margin if margin > 0 else 0) + END_OVERSHOOT_UV
        if bound(dt * 1e-3, i_A) * 1e6 <= allowed:
            return dt
        band = self.ch.engine.reg.band_uV if getattr(s, "handover", False) else 0
        to_trig = margin - band
        target = (to_trig if to_trig > 0 else 0) + END_OVERSHOOT_UV // 2
        if target > allowed:
            target = allowed
        st = cell.__dict__.copy()   # the whole model, put back exactly after a trial
        while True:   # dt falls by a tenth at least each time, to MIN_DT_MS at most
            cell.step(dt * 1e-3, i_A)
            moved = (cell.v_V * 1e6 - v) if up else (v - cell.v_V * 1e6)
            cell.__dict__.update(st)
            if moved <= allowed or dt <= MIN_DT_MS:
                break
            k = target / moved
            dt = int(dt * (k if k < 0.9 else 0.9))
            if dt < MIN_DT_MS:
                dt = MIN_DT_MS
        return dt

    def _hold_bound(self, s, dt, window_uV):
        """dt (ms) halved, down to BASE_DT_MS, until a trial step of the model (from its
        saved state, then put back: the model is deterministic, so the tick will do
        exactly this) ends with the true voltage within window_uV of where the loop
        holds it (the setpoint less the reading's error now). The regulator's
        resistance estimate is a 1-2 s one and its out-of-band gain is 3/4 of it: a long
        tick that let the voltage wander would make it kick the current by a multiple
        of itself, and the loop would ring (10 s ticks rang to 49 mV past 4.1 V)."""
        cell = self.cell
        if not hasattr(cell, "__dict__"):   # a stand-in we cannot put back: 10 s
            return min(dt, 10 * BASE_DT_MS)
        ch, fe = self.ch, self.fe
        v = cell.v_V * 1e6
        held = v - (ch.engine.v_uV - s.v_uV)   # the true voltage the loop holds
        st = cell.__dict__.copy()   # the whole model, put back exactly after a trial
        fst = fe.__dict__.copy()    # and the front-end's (no noise drawn in a setpoint)
        while dt > BASE_DT_MS:
            # the command aimed over this tick (the regulator's look-ahead), as the
            # output will drive it (an 8-bit DAC's code: 1.6 uA over a 2 min tick is
            # 20 mV on fig4); next_dt applies the one for the tick it picks
            ch.reaim(dt)
            fe.set_current_nA(ch.out_i_nA)
            cell.step(dt * 1e-3, fe.out_i_nA * 1e-9)
            off = abs(cell.v_V * 1e6 - held)
            cell.__dict__.update(st)
            fe.__dict__.update(fst)
            if off <= window_uV:
                break
            # the miss grows about as the square of the tick (the run-on of the
            # command's step and of the hold's decay): aim a little inside the window
            k = HOLD_SHRINK * (window_uV / off) ** 0.5
            dt = int(dt * (k if k > HOLD_SHRINK_MIN else HOLD_SHRINK_MIN))
        return dt if dt > BASE_DT_MS else BASE_DT_MS

    def advance(self, dt_ms):
        self.fe.advance(dt_ms)
        self.now_ms += dt_ms


def simulate(parsed, cell_name, out_dir=None, fixed_tick_ms=0, seed=1, sample_s=SAMPLE_S,
             progress=None, max_hours=None, cell=None, fe_kwargs=None, board=None):
    """Run `parsed` (a ParsedProtocol) to its end. Returns the RunWriter (its .cycles
    rows) and the Sim. With out_dir None nothing is written to disk."""
    from host_tools.records import RunWriter, step_dict, cycle_dict
    import engine

    sim = Sim(parsed.lines, cell_name, seed, cell=cell, fe_kwargs=fe_kwargs, board=board)
    # flushed every 200 rows and at each cycle end, not fsynced (docs/host-tools.md
    # "cycler simulate: output"): a killed run keeps all but its last rows
    writer = (RunWriter(out_dir, parsed, fresh=True, fsync=False) if out_dir
              else _MemoryWriter(parsed))
    model_log = _ModelLog(out_dir, sim.cell) if out_dir else None
    e = sim.ch.engine
    fe = sim.fe
    running = engine.RUNNING
    sim.start()
    seen_s = seen_c = 0
    probe_row = False
    next_sample = 0.0
    seq = 0
    limit_ms = max_hours * 3.6e6 if max_hours else None
    while True:
        sim.tick()
        t = sim.now_ms
        state = e.state
        ended = e.step_seq != seen_s
        if ended:
            # the row at a step's end belongs to that step: its number, kind and time
            import engine as fw
            r = e.step_rec
            if e.cycle_seq == seen_c:  # the cycle is still open
                q = e.acc.cycle_q_nAh
                qc, qd = q[0] + q[1], q[2] + q[3]
            else:  # the tick also closed the cycle
                c = e.cycle_rec
                qc, qd = c[fw.CR_CHG_CC] + c[fw.CR_CHG_CV], c[fw.CR_DIS_CC] + c[fw.CR_DIS_CV]
            writer.telemetry(t, e.v_uV, e.i_nA, r[fw.SR_CYCLE], r[fw.SR_NUMBER],
                             r[fw.SR_KIND], r[fw.SR_MS], qc, qd, seq)
            seq += 1
            next_sample = t / 1000.0 + sample_s
            probe_row = True
            if model_log:
                model_log.row(t)
        elif t >= next_sample * 1000 or (probe_row and e.step_ms >= PROBE_ROW_MS):
            probe_row = False
            q = e.acc.cycle_q_nAh
            writer.telemetry(t, e.v_uV, e.i_nA, e.cycle, e.step_number,
                             e.step.kind if e.step else 0, e.step_ms, q[0] + q[1],
                             q[2] + q[3], seq)
            seq += 1
            next_sample = t / 1000.0 + sample_s
            if model_log:
                model_log.row(t)
        if ended:
            seen_s = e.step_seq
            writer.step_end(step_dict(e.step_rec))
        if e.cycle_seq != seen_c:
            seen_c = e.cycle_seq
            writer.cycle_end(cycle_dict(e.cycle_rec))
            if progress:
                progress(e, t)
        if state != running:
            break
        if limit_ms and t > limit_ms:
            sim.ch.stop(t & TICKS_MASK)
            continue
        dt = fixed_tick_ms or sim.next_dt()
        fe.advance(dt)   # (Sim.advance, inlined)
        sim.now_ms += dt
    if out_dir:
        writer.close()
        model_log.close()
    return writer, sim


MODEL_COLUMNS = ["Test Time / s", "OCV / V", "Heat / W", "Side Current / A",
                 "Age / cycles"]


class _ModelLog:
    """model.csv beside the BDF time series, at the same times: what only a model
    knows. Heat / W is the cell's heat output, Joule (R0) plus overpotential heat,
    I x (V - OCV) (cellmodel.CellModel.heat_W; docs/cellmodel.md compares it with the
    paper's calorimetry)."""

    def __init__(self, out_dir, cell):
        import csv
        self.cell = cell
        self._f = open(os.path.join(out_dir, "model.csv"), "w", newline="")
        self._w = csv.writer(self._f)
        self._w.writerow(MODEL_COLUMNS)

    def row(self, t_ms):
        c = self.cell
        # the line csv.writer would write (numbers need no quoting), in one call
        self._f.write("%.3f,%.6f,%.4e,%.4e,%.3f\r\n" % (
            t_ms / 1000.0, c.ocv_V, c.heat_W, c.i_side_A, c.age_cycles))

    def close(self):
        self._f.close()


class _MemoryWriter:
    """RunWriter's interface without files (tests, benchmarks)."""

    def __init__(self, parsed):
        import tempfile
        from host_tools.records import RunWriter
        self._tmp = tempfile.TemporaryDirectory()
        self._w = RunWriter(self._tmp.name, parsed, batch=10 ** 9, fsync=False)
        self.cycles = self._w.cycles
        self.steps = []

    def telemetry(self, *a):
        pass

    def step_end(self, rec):
        self.steps.append(rec)
        self._w.step_end(rec)

    def cycle_end(self, rec):
        self._w.cycle_end(rec)


def run(args):
    from host_tools import protocol_file
    from host_tools.records import cycle_table

    import feprofiles
    try:
        feprofiles.get(args.board)
    except ValueError as e:
        print("cycler simulate: %s" % e, file=sys.stderr)
        return 2
    path = protocol_file.resolve(args.protocol)
    try:   # what the board refuses too, at the file's line (its own `load` would)
        parsed = protocol_file.load(path, board=args.board)
    except (protocol_file.ProtocolError, OSError) as e:
        print("cycler simulate: %s" % e, file=sys.stderr)
        return 2
    cell_name = args.cell or parsed.cell.get("name") or "fig4"
    import cellmodel
    from host_tools import fit
    cell = None
    if fit.is_cell_file(cell_name):     # a cell written by `cycler fit`
        try:
            params = fit.load_cell(cell_name)
            cell = cellmodel.make_cell(params)
        except ValueError as e:
            print("cycler simulate: %s" % e, file=sys.stderr)
            return 2
        from boards import sim as simboard
        cell.set_soc(simboard.SOC0)
        cell_name = params["name"]
    elif cell_name not in cellmodel.CELLS:
        print("cycler simulate: unknown cell %r; one of %s, or a cell file (.toml) from "
              "`cycler fit`" % (cell_name, ", ".join(sorted(cellmodel.CELLS))),
              file=sys.stderr)
        return 2
    out = args.out or os.path.join("out", "%s-%s" % (parsed.name, cell_name))
    total = parsed.cycle_count
    t0 = time.perf_counter()
    if args.quiet:
        writer, sim = simulate(parsed, cell_name, out, args.fixed_tick_ms, args.seed,
                               args.sample_s, cell=cell, board=args.board)
    else:
        from rich.console import Console
        from rich.progress import Progress, BarColumn, TextColumn, TimeElapsedColumn
        con = Console(stderr=True)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} cycles"),
                      TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                      console=con) as prog:
            task = prog.add_task(parsed.name, total=total, info="")

            def progress(e, t_ms):
                prog.update(task, completed=e.cycle_rec[0], info="%.1f h simulated, %.3f V" % (
                    t_ms / 3.6e6, e.v_uV / 1e6))

            writer, sim = simulate(parsed, cell_name, out, args.fixed_tick_ms, args.seed,
                                   args.sample_s, progress=progress, cell=cell,
                                   board=args.board)
        from rich.console import Console as C2
        con = C2()
        con.print(cycle_table(writer.cycles, "%s on %s (mAh/g)" % (parsed.name, cell_name),
                              width=con.width))
    wall = time.perf_counter() - t0
    print("%d cycles, %.1f h simulated in %.1f s; wrote %s" % (
        len(writer.cycles), sim.now_ms / 3.6e6, wall, out))
    import engine
    e = sim.ch.engine
    if e.state == engine.FAULT:
        print("cycler simulate: the run ended in a FAULT: %s" % sim.ch.status_text(),
              file=sys.stderr)
        return 1
    return 0
