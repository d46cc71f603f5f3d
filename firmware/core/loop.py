# One control tick around the channel: measure, range, tick, apply. The board's loop
# (firmware/board/runtime.py) and `cycler simulate` (host_tools/simulate.py) both run
# this function, so the closed loop is written once. Hardware is handed in: `fe` is a
# front-end (docs/architecture.md), `ranger` an autoranging object or None. Allocates
# nothing.


def control_tick(fe, ch, ranger, now_ms):
    """Measure, pick the range, run the channel (safety, then the engine), apply the
    command. Returns False when a range switch silently failed (the front-end did not
    take the range asked for: the caller latches a fault), else True. While the channel
    sources a fixed current in a fixed range (calibration), the ranging stands aside.
    The cell disconnect follows ch.cell_connected: closed before the reading (so a run's
    first reading sees the cell), opened after the output went off; while a latched
    fault still finds current flowing (ch.idle_leak) it is driven open every tick."""
    if ch.cell_connected and not fe.connected:
        fe.connect()
    fe.measure()
    ch.i_fs_nA = fe.ranges_nA[fe.range_index]   # the range this reading was taken on
    i_nA = fe.i_nA
    ok = True
    rg = None if ch.sourcing else ranger
    if rg is not None:
        # the range for this reading and the setpoint in force; while a switch settles,
        # the last good reading stands in (firmware/board/autorange.py)
        rg.update(now_ms, i_nA, ch.out_i_nA if ch.out_on else 0)
        k0 = fe.range_index
        k = rg.index
        if k != k0:   # (most ticks stay on their range: no call)
            ok = _select(fe, k)
        if fe.range_index != k0:
            # the output's offset differs by range: a hold goes on from the current
            # that flowed (read on the old range), not from a command that made up for
            # the old range's offset
            ch.range_switched(i_nA)
        i_nA = rg.i_nA
    ch.tick(now_ms, fe.v_uV, i_nA)
    ok = _apply(fe, ch, rg, now_ms) and ok
    if not ch.cell_connected and (fe.connected or ch.idle_leak):
        fe.disconnect()
    return ok


def reaim(fe, ch, ranger, now_ms, ahead_ms):
    """After control_tick, for a caller that picks the coming tick's length only then
    (`cycler simulate`; the board's tick is fixed): a hold's command aimed over
    ahead_ms instead of the tick that has passed, and applied as control_tick applies
    it. Returns False when a range switch silently failed, else True."""
    if not ch.reaim(ahead_ms):
        return True
    return _apply(fe, ch, ranger, now_ms)


def _apply(fe, ch, rg, now_ms):
    # the channel's command onto the front-end: the range a larger new setpoint needs,
    # then the current (or the output off); False when a range switch silently failed
    ok = True
    if ch.out_on:
        if rg is not None:
            k = rg.ensure(now_ms, ch.out_i_nA)
            if k != fe.range_index:
                ok = _select(fe, k)
        fe.set_current_nA(ch.out_i_nA)
    else:
        fe.off()
    return ok


def _select(fe, k):
    if k != fe.range_index:
        fe.select_range(k)
        return fe.range_index == k
    return True
