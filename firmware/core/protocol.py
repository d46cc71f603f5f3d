# The protocol as the board runs it: steps and repeat blocks in integer units, parsed
# from the compact form (docs/architecture.md) and validated before anything runs.
# The kinds, the limits and the Step, Protocol and Block classes are protocol_defs.py's
# (resident on a board: the engine reads the Step fields during a tick); this module is
# the one door to them and to the load-time code, which it imports for a load:
# protocol_parse.py (parse) and protocol_check.py (validate; the refusals). A board's
# channel imports this module at a load and drops it and them after (protocol.load's
# `forget`), so none of their code is resident. This module never touches hardware.
from protocol_defs import *  # noqa: F401,F403  (protocol.CC, protocol.Step, ...)


def parse(lines):
    """Compact form -> Protocol (not yet validated). Raises ValueError naming the line.
    (The code is protocol_parse.py, imported for it.)"""
    import protocol_parse
    return protocol_parse.parse(lines)


def validate(p, *args):
    """Refuse a protocol that could not run safely on this channel: args are
    protocol_check.validate's after p (channel_i_max_nA, i_floor_nA, v_max_uV, ...;
    its docstring says what each is). The checks are protocol_check.py, imported for it."""
    import protocol_check
    return protocol_check.validate(p, *args)


def hold_err_uV(v_err_uV, v_noise_uV):
    """How far a hold may keep the true voltage from its setpoint on a board whose
    reading has error v_err_uV and tick noise v_noise_uV (load's v_err_uV; 0: a board
    whose error is not stated, not checked)."""
    return v_err_uV + HOLD_NOISE_SIGMA * v_noise_uV if v_err_uV else 0


def load(lines, *args, forget=None):
    """validate(parse(lines), *args). forget(name), if given, drops a module imported
    for the job (the board's runtime.forget): the parser's code is garbage before the
    checks load, and theirs after, so a load holds one of them at a time."""
    try:
        p = parse(lines)
    finally:
        if forget is not None:
            forget("protocol_parse")
    try:
        return validate(p, *args)
    finally:
        if forget is not None:
            forget("protocol_check")
