"""A simple float CC-CV driver for the cell model: the reference the fit and the
PyBaMM check use. Not the firmware engine (that one is integer and lives in
firmware/); this one is an ideal instrument: exact constant current, and an ideal
constant voltage (each tick solves for the current that holds the voltage exactly).

Step ends are located inside a tick (bisection on a saved state), so end times do
not depend on the tick length more than the model does.
"""


def _cross(cell, i_A, dt, v_limit, up):
    """Advance one tick at i_A; if the limit is crossed stop exactly on it.

    Returns the time advanced and whether the limit was reached.
    """
    st = cell.state()
    cell.step(dt, i_A)
    v = cell.v_V
    if (v < v_limit) if up else (v > v_limit):
        return dt, False
    lo, hi = 0.0, dt
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        cell.set_state(st)
        cell.step(mid, i_A)
        v = cell.v_V
        if (v < v_limit) if up else (v > v_limit):
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-4:
            break
    cell.set_state(st)
    cell.step(hi, i_A)
    return hi, True


def run_cc(cell, i_A, v_limit, dt=2.0, t_max=1e7):
    """Constant current until the voltage reaches v_limit (up when charging)."""
    up = i_A > 0
    t = 0.0
    q = 0.0
    # A step that starts beyond its limit ends at once (as PyBaMM does).
    if (cell.voltage_if(i_A) >= v_limit) if up else (cell.voltage_if(i_A) <= v_limit):
        return {"kind": "cc", "t_s": 0.0, "q_As": 0.0, "end": "limit"}
    end = "time"
    while t < t_max:
        h = min(dt, t_max - t)
        h, hit = _cross(cell, i_A, h, v_limit, up)
        t += h
        q += i_A * h
        if hit:
            end = "limit"
            break
    return {"kind": "cc", "t_s": t, "q_As": q, "end": end}


def _solve_cv(cell, v_hold, dt, i_guess):
    """The constant current over dt that ends the tick exactly at v_hold."""
    st = cell.state()

    def v_of(i):
        cell.set_state(st)
        cell.step(dt, i)
        return cell.v_V - v_hold

    # Slope of V against I over one tick: at least R0 (plus the RC's share).
    i0 = i_guess
    f0 = v_of(i0)
    i1 = i0 - f0 / cell.r0 if cell.r0 > 0 else i0 * 0.9
    f1 = v_of(i1)
    for _ in range(20):
        if abs(f1) < 1e-7 or f1 == f0:
            break
        i2 = i1 - f1 * (i1 - i0) / (f1 - f0)
        i0, f0 = i1, f1
        i1 = i2
        f1 = v_of(i1)
    return i1  # the cell is left stepped with i1


def run_cv(cell, v_hold, i_end_A, dt=2.0, t_max=1e7, t_min=0.0):
    """Hold v_hold until |I| <= i_end_A (end interpolated inside the tick).

    Each tick's current is the tick's mean; the current at the tick's end is
    estimated by extrapolating half a tick (1.5 i_k - 0.5 i_k-1), which takes the
    end time from first to second order in the tick length.
    """
    t = 0.0
    q = 0.0
    # Start from the current that holds the voltage now (ohmic step only).
    i_guess = (v_hold - (cell.v_V - cell.i_A * cell.r0)) / cell.r0 if cell.r0 > 0 else 0.0
    i_mean_prev = None
    a = abs(cell.i_A)  # |I| at the start of the tick (instantaneous estimate)
    end = "time"
    while t < t_max:
        h = min(dt, t_max - t)
        st = cell.state()
        i = _solve_cv(cell, v_hold, h, i_guess)
        b = abs(i) if i_mean_prev is None else abs(1.5 * i - 0.5 * i_mean_prev)
        if b <= i_end_A and t + h >= t_min:
            # The current crossed i_end during this tick: end where it did.
            frac = 1.0 if a <= b else (a - i_end_A) / (a - b)
            frac = min(1.0, max(0.0, frac))
            hh = h * frac
            if hh < h:
                cell.set_state(st)
                if hh > 0:
                    i = _solve_cv(cell, v_hold, hh, i)
            t += hh
            q += i * hh
            end = "current"
            break
        t += h
        q += i * h
        i_mean_prev = i
        i_guess = i
        a = b
    return {"kind": "cv", "t_s": t, "q_As": q, "end": end}


def run_rest(cell, t_s, dt=10.0):
    t = 0.0
    while t < t_s:
        h = min(dt, t_s - t)
        cell.step(h, 0.0)
        t += h
    return {"kind": "rest", "t_s": t, "q_As": 0.0, "end": "time"}


def cycle(cell, c_charge, c_discharge, v_lo=2.6, v_hi=4.1, end_charge_c=1.0 / 46,
          end_discharge_c=1.0 / 24, cv=True, dt=2.0, rest_s=0.0):
    """One CC-CV charge then one CC-CV discharge (FACTS: the protocol).

    c_* are C-rates as numbers (1.0 = 1C) of the cell's nominal capacity.
    Returns the steps and the capacities in mAh/g of active material.
    """
    i1c = cell.capacity_As / 3600.0
    steps = []
    steps.append(run_cc(cell, c_charge * i1c, v_hi, dt))
    if cv:
        steps.append(run_cv(cell, v_hi, end_charge_c * i1c, dt))
    if rest_s:
        run_rest(cell, rest_s)
    steps.append(run_cc(cell, -c_discharge * i1c, v_lo, dt))
    if cv:
        steps.append(run_cv(cell, v_lo, end_discharge_c * i1c, dt))
    if rest_s:
        run_rest(cell, rest_s)
    g = cell.active_mass_mg * 1e-3
    to_mah_g = 1.0 / 3.6 / g

    def mahg(s):
        return abs(s["q_As"]) * to_mah_g

    out = {"steps": steps}
    out["charge_cc"] = mahg(steps[0])
    out["charge_cv"] = mahg(steps[1]) if cv else 0.0
    k = 2 if cv else 1
    out["discharge_cc"] = mahg(steps[k])
    out["discharge_cv"] = mahg(steps[k + 1]) if cv else 0.0
    out["charge"] = out["charge_cc"] + out["charge_cv"]
    out["discharge"] = out["discharge_cc"] + out["discharge_cv"]
    return out


def sweep(cell, v_to, rate_V_s, dt=5.0):
    """A linear voltage sweep from the cell's voltage now to v_to at rate_V_s (V/s, > 0),
    each tick's constant current solved to end the tick on the swept voltage (an ideal
    potentiostat); returns [(V, I A)] at the ticks' ends."""
    v = cell.v_V
    n = max(1, int(round(abs(v_to - v) / (rate_V_s * dt))))
    dv = (v_to - v) / n
    i = cell.i_A
    out = []
    for k in range(1, n + 1):
        i = _solve_cv(cell, v + k * dv, dt, i)
        out.append((cell.v_V, i))
    return out
