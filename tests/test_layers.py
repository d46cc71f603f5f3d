"""The import graph, built from the code: three board-side layers with arrows only
downward, `machine` only in drivers and board files, simulation apart from the board,
and no import cycle anywhere (function-level imports included). docs/architecture.md
states the same rules in words.

    core        firmware/core       imports core only
    board       firmware/board      imports core and board (main.py: the board file)
    simulation  simulation/         imports core and simulation
    boards      boards/*.py         imports core, board; boards/sim.py also simulation
    host        host_tools/         anything; nothing board-side imports it
"""
import ast
import os

import pytest

import host_tools

ROOT = host_tools.ROOT

# What each layer may import from outside the project (MicroPython's own modules).
STDLIB = {
    "core": {"micropython", "array"},
    "board": {"micropython", "array", "gc", "time", "json", "os", "select", "sys", "machine"},
    "simulation": {"micropython", "math"},
    "boards": {"micropython", "time", "os", "machine", "gc"},
}
MAY_IMPORT = {
    "core": {"core"},
    "board": {"core", "board"},
    "simulation": {"core", "simulation"},
    "boards": {"core", "board"},
}
# Names that exist only on a board: the board file installed as board.py and the
# settings file next to it (firmware/board/main.py imports both).
DEPLOYED = {"board": "boards", "board_config": "boards"}


def _layer_files():
    """{module name: (layer, path)} for every board-side and host module."""
    out = {}
    for layer, folder in (("core", host_tools.CORE_DIR), ("board", host_tools.BOARD_DIR),
                          ("simulation", host_tools.SIMULATION_DIR)):
        for dirpath, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, f), folder)[:-3]
                    name = rel.replace(os.sep, ".")
                    if name.endswith(".__init__"):
                        name = name[:-9]
                    out[name] = (layer, os.path.join(dirpath, f))
    for f in os.listdir(host_tools.BOARDS_DIR):
        if f.endswith(".py") and f != "__init__.py":
            out["boards." + f[:-3]] = ("boards", os.path.join(host_tools.BOARDS_DIR, f))
    host = os.path.join(ROOT, "host_tools")
    for f in os.listdir(host):
        if f.endswith(".py"):
            name = "host_tools" if f == "__init__.py" else "host_tools." + f[:-3]
            out[name] = ("host", os.path.join(host, f))
    return out


def _imports(path):
    """Every module name imported anywhere in the file (top level or in a function)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            # `from host_tools import deploy`: the submodule is the dependency
            names += [node.module + "." + a.name for a in node.names]
    return names


def _graph():
    mods = _layer_files()
    edges = {}
    for name, (layer, path) in mods.items():
        deps = set()
        for imp in _imports(path):
            if imp in mods and imp != name:
                deps.add(imp)
            elif imp.split(".")[0] in mods and imp.split(".")[0] != name:
                deps.add(imp.split(".")[0])
        edges[name] = deps
    return mods, edges


def _violations(mods, edges):
    bad = []
    for name, (layer, path) in mods.items():
        if layer == "host":
            continue
        for imp in _imports(path):
            top = imp.split(".")[0]
            if imp in mods or top in mods:
                target = mods[imp][0] if imp in mods else mods[top][0]
                allowed = set(MAY_IMPORT[layer])
                if name == "boards.sim":
                    allowed.add("simulation")
                if target == "boards" and imp.startswith("boards."):
                    continue
                if target not in allowed:
                    bad.append("%s (%s) imports %s (%s)" % (name, layer, imp, target))
            elif imp in DEPLOYED:
                if name != "main":
                    bad.append("%s imports %s, which only main.py may" % (name, imp))
            elif top in ("host_tools",):
                bad.append("%s (%s) imports the host package %s" % (name, layer, imp))
            elif top not in STDLIB[layer] and not imp.startswith("boards"):
                bad.append("%s (%s) imports %s, not a module of its layer" % (name, layer, imp))
            if top == "machine" and not (layer == "boards" or name.startswith("drivers")):
                bad.append("%s touches machine: only drivers and board files may" % name)
    return bad


def _cycles(edges):
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_covers_every_layer():
    mods, edges = _graph()
    layers = {layer for layer, _ in mods.values()}
    assert layers == {"core", "board", "simulation", "boards", "host"}
    assert mods["engine"][0] == "core" and mods["runtime"][0] == "board"
    assert mods["cellmodel"][0] == "simulation" and mods["drivers.ads1115"][0] == "board"
    assert "engine" in edges["channel"] and "loop" in edges["runtime"]


def test_arrows_only_downward():
    mods, edges = _graph()
    assert _violations(mods, edges) == []


def test_no_import_cycle():
    mods, edges = _graph()
    assert _cycles(edges) == []


def test_control_cases_are_caught(tmp_path, monkeypatch):
    """An upward import, machine in the core and a cycle are each reported."""
    mods, edges = _graph()
    core_file = tmp_path / "engine.py"
    core_file.write_text("import runtime\nimport machine\n")
    mods = dict(mods)
    mods["engine"] = ("core", str(core_file))
    bad = _violations(mods, edges)
    assert any("engine (core) imports runtime (board)" in b for b in bad), bad
    assert any("engine touches machine" in b for b in bad), bad
    e2 = dict(edges)
    e2["host_tools.deploy"] = set(edges["host_tools.deploy"]) | {"host_tools.simboard"}
    e2["host_tools.simboard"] = set(edges["host_tools.simboard"]) | {"host_tools.deploy"}
    assert any("host_tools.deploy" in c and "host_tools.simboard" in c for c in _cycles(e2))


@pytest.mark.parametrize("board", ["pico", "esp32"])
def test_a_real_board_image_holds_no_simulation_or_host_code(board, tmp_path):
    from host_tools import deploy
    plan = deploy.build(board, str(tmp_path / board))
    names = sorted(plan)
    assert "main.py" in names and "engine.mpy" in names and "board.mpy" in names
    assert "drivers/ads1115.mpy" in names and "loop.mpy" in names
    for sim in ("cellmodel.mpy", "femodel.mpy"):
        assert sim not in names, names
    assert not any(n.startswith("host_tools") for n in names)
    # the host-only float reporting is not in the board's accounting
    with open(os.path.join(host_tools.CORE_DIR, "accounting.py")) as f:
        assert "def coulombic_efficiency_pct" not in f.read()
    sim_plan = deploy.build("sim", str(tmp_path / "sim"))
    assert "cellmodel.mpy" in sim_plan and "femodel.mpy" in sim_plan
