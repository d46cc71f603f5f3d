"""`cycler simulate PROTOCOL --cell NAME [--out DIR]`: the firmware's own channel
(safety, engine, regulator, accounting) tick by tick in CPython, closed loop with the
cell model (simulation/cellmodel.py) seen through the front-end model (simulation/femodel.py)
and the firmware's autoranging, on a virtual clock.

The tick adapts: 1 s near any limit; far from one, up to 2 min at constant current or
at rest (the engine's MAX_DT_MS), up to 10 s in a hold (the regulator's loop gain was
measured over 1-2 s ticks; much longer ticks see the cell's RC as extra resistance).
tests/test_simulate.py checks each cycle's capacities against a fixed 1 s tick.
"""
import os
import sys
import time

import host_tools  # noqa: F401  (firmware on sys.path)

from units import TICKS_MASK  # noqa: E402  (the board's tick counter wraps there)

BASE_DT_MS = 1000
MAX_DT_MS = 120000       # CC, CR, rest
MAX_HOLD_DT_MS = 3000    # CV, sweep (a realistic front-end: range switches move the output by 1 % of FS)
IDLE_TICKS = 5             # board ticks before `start` (Sim.start)
IDLE_TICK_MS = 100
SAMPLE_S = 30.0            # a BDF row every 30 s of test time, and at every step end
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
        kw = {"fast": True}  # one noise draw per input per tick (femodel._measure_fast)
        kw.update(fe_kwargs or {})
        self.fe = simboard.make_model(self.cell, seed, self.board, **kw)
        self.ranger = AutoRange(self.fe.ranges_nA, index=self.fe.range_index)
        ckw = simboard.channel_figures(self.board)
        ckw.update(channel_kwargs or {})
        self.ch = Channel(simboard.I_MAX_NA, ckw.pop("i_floor_nA"), **ckw)
        self.ch.load_lines(lines)
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
        from loop import control_tick
        import safety
        if not control_tick(self.fe, self.ch, self.ranger, self.now_ms & TICKS_MASK):
            self.ch.trip(safety.EXTERNAL, self.fe.v_uV, self.fe.i_nA)   # as the board does

    def running(self):
        import engine
        return self.ch.engine.state == engine.RUNNING

    def next_dt(self):
        """How long until the next tick: 1 s near a limit, longer far from one."""
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
                dv = abs(v - self._prev_v) / pdt  # uV per ms
                margin = abs(s.until_uV - v)
                # a quarter of the time left to the end voltage: the approach closes in
                # geometrically; the last 20 mV (a discharge knee steepens fast) on
                # base ticks
                dt = int(margin / dv / 4) if dv > 0 else MAX_DT_MS
                if margin < 20000:
                    dt = BASE_DT_MS
            elif s.kind == protocol.CV:
                di = abs(i - self._prev_i) / pdt  # nA per ms
                above = abs(i) - s.i_end_nA
                if e.step_ms < 10000:   # the hand-over transient
                    dt = BASE_DT_MS
                elif above <= 0:
                    dt = 2 * BASE_DT_MS   # qualifying the end: 3 ticks and 5 s
                elif di > 0:
                    # 2 % of the current per tick, and a fifth of the time left to the
                    # termination current, so the hold ends within a short tick of it
                    dt = min(int(0.02 * abs(i) / di), int(above / di / 5), MAX_HOLD_DT_MS)
                else:
                    dt = MAX_HOLD_DT_MS
            elif s.kind == protocol.SWEEP:
                dt = BASE_DT_MS
            if s.t_max_ms:
                left = s.t_max_ms - e.step_ms
                if 0 < left < dt:
                    dt = left
        dt = max(BASE_DT_MS, min(MAX_DT_MS, dt))
        self._prev_v, self._prev_i, self._prev_dt = v, i, dt
        return dt

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
    writer = RunWriter(out_dir, parsed, fresh=True) if out_dir else _MemoryWriter(parsed)
    e = sim.ch.engine
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
        elif t >= next_sample * 1000 or (probe_row and e.step_ms >= PROBE_ROW_MS):
            probe_row = False
            q = e.acc.cycle_q_nAh
            writer.telemetry(t, e.v_uV, e.i_nA, e.cycle, e.step_number,
                             e.step.kind if e.step else 0, e.step_ms, q[0] + q[1],
                             q[2] + q[3], seq)
            seq += 1
            next_sample = t / 1000.0 + sample_s
        if ended:
            seen_s = e.step_seq
            writer.step_end(step_dict(e.step_rec))
        if e.cycle_seq != seen_c:
            seen_c = e.cycle_seq
            writer.cycle_end(cycle_dict(e.cycle_rec))
            if progress:
                progress(e, t)
        if state != engine.RUNNING:
            break
        if limit_ms and t > limit_ms:
            sim.ch.stop(t & TICKS_MASK)
            continue
        dt = fixed_tick_ms or sim.next_dt()
        sim.advance(dt)
    if out_dir:
        writer.close()
    return writer, sim


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

    path = protocol_file.resolve(args.protocol)
    try:
        parsed = protocol_file.load(path)
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
    import feprofiles
    try:
        feprofiles.get(args.board)
    except ValueError as e:
        print("cycler simulate: %s" % e, file=sys.stderr)
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
