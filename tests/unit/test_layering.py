"""The layering of the source tree (issue 13): who may import whom, and no import cycles.

A small AST check rather than import-linter: it needs no dependency, reads the
files without importing them, and its whole policy is the ``LAYERS`` table
below, which is the thing to edit when modules move between packages.

Every import statement counts, wherever it sits: at module level, under
``if TYPE_CHECKING:``, or inside a function. A deferred or type-only import
still couples the two modules (the importer cannot be read, typed or moved
without the imported one), and the cycles named in the issue were exactly of
those two kinds (``broker`` -> ``fanout_redis`` inside a function, ``services``
-> ``ws`` under ``TYPE_CHECKING``). Each edge remembers its kind so that a
failure message says where the import sits.

An import names the most specific module of ours it reaches: ``from server.rules
import commands`` is an edge to ``server.rules.commands``, ``from store import
LogEntry`` an edge to the package ``store``. Python also runs the parent
packages' ``__init__`` on the way; those implicit edges are not counted, or
every package that re-exports its modules would be a cycle with them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Our top-level packages: everything else (stdlib, third party) is not checked.
OURS = ("protocol", "timers", "store", "server", "clients")

# What every layer of the server may build on.
_BELOW = ("protocol", "timers", "store")


@dataclass(frozen=True)
class Layer:
    """What the modules of one package may import of ours, besides their own package.

    ``allowed`` and ``forbidden`` are module prefixes (``"server"`` covers
    ``server.http.routes.auth``); ``forbidden`` carves exceptions out of ``allowed``.
    """

    allowed: tuple[str, ...]
    forbidden: tuple[str, ...] = ()


# Package (or module) -> its layer. A module obeys the entry with the longest
# key that is a prefix of its name; every module of ours must match one.
LAYERS: dict[str, Layer] = {
    # The wire protocol and the timers are leaves: clients and verifiers depend on them alone.
    "protocol": Layer(allowed=()),
    "timers": Layer(allowed=()),
    # The pure rules and the pure scheduling core: no I/O, no server, only the protocol.
    "server.rules": Layer(allowed=("protocol",)),
    "server.scheduling.core": Layer(allowed=("protocol",)),
    # Persistence never reaches up into the server.
    "store": Layer(allowed=("protocol",)),
    # The client library speaks the protocol; it never imports the server or the store.
    "clients": Layer(allowed=("protocol",)),
    # What the whole server shares sits below the live and the scheduling layers.
    "server.common": Layer(allowed=(*_BELOW, "server.rules")),
    # The live layer never reaches into HTTP, scheduling or the process's wiring.
    "server.live": Layer(allowed=(*_BELOW, "server.rules", "server.common")),
    "server.scheduling": Layer(allowed=(*_BELOW, "server.common")),
    "server.http": Layer(allowed=OURS, forbidden=("server.node",)),
    "server.node": Layer(allowed=OURS),
    "server": Layer(allowed=OURS),
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    kind: str  # "module", "type-checking" or "function"


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_names(root: Path, packages: Iterable[str] = OURS) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` of the packages under ``root``.

    An extension module in C is known by its stub (``protocol/_chain_native.pyi``),
    so an import of it is an edge to it, not to its package.
    """
    names: dict[str, Path] = {}
    for package in packages:
        stubs = [p for p in (root / package).rglob("*.pyi") if not p.with_suffix(".py").exists()]
        for path in sorted([*(root / package).rglob("*.py"), *stubs]):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(nodes: Iterable[ast.AST], kind: str) -> Iterable[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement in ``nodes`` and below, with where it sits."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _walk(node.body, "function")
        elif isinstance(node, ast.If) and kind == "module" and _is_type_checking(node.test):
            yield from _walk(node.body, "type-checking")
            yield from _walk(node.orelse, kind)
        else:
            yield from _walk(ast.iter_child_nodes(node), kind)


def _resolve(name: str, known: Mapping[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, source: str, known: Mapping[str, Path]) -> list[Import]:
    """The edges from ``module`` to modules of ours, read from its source."""
    is_package = known.get(module, Path()).name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    edges: list[Import] = []
    for statement, kind in _walk(ast.parse(source).body, "module"):
        targets: list[str] = []
        if isinstance(statement, ast.Import):
            targets = [alias.name for alias in statement.names]
        else:
            base = statement.module or ""
            if statement.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (statement.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from a import b`` names the submodule ``a.b`` when there is one.
            targets = [f"{base}.{alias.name}" for alias in statement.names] or [base]
        for target in targets:
            resolved = _resolve(target, known)
            if resolved is not None and resolved != module:
                edges.append(Import(module, resolved, statement.lineno, kind))
    return edges


def import_graph(root: Path, packages: Iterable[str] = OURS) -> dict[str, list[Import]]:
    known = module_names(root, packages)
    return {name: imports_of(name, path.read_text(), known) for name, path in known.items()}


def layer_of(module: str, layers: Mapping[str, Layer]) -> str | None:
    keys = [key for key in layers if _under(module, key)]
    return max(keys, key=len) if keys else None


def layering_violations(
    graph: Mapping[str, list[Import]], layers: Mapping[str, Layer] = LAYERS
) -> list[str]:
    problems: list[str] = []
    for module, edges in sorted(graph.items()):
        key = layer_of(module, layers)
        if key is None:
            problems.append(f"{module}: no entry in LAYERS")
            continue
        layer = layers[key]
        for edge in edges:
            if _under(edge.imported, key):
                continue
            allowed = any(_under(edge.imported, p) for p in layer.allowed)
            forbidden = any(_under(edge.imported, p) for p in layer.forbidden)
            if forbidden or not allowed:
                problems.append(
                    f"{module}:{edge.line} imports {edge.imported} ({edge.kind} import), "
                    f"which layer {key!r} may not"
                )
    return problems


def import_cycles(graph: Mapping[str, list[Import]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    successors = {m: sorted({e.imported for e in edges}) for m, edges in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for nxt in successors.get(module, []):
            if nxt not in index:
                visit(nxt)
                low[module] = min(low[module], low[nxt])
            elif nxt in on_stack:
                low[module] = min(low[module], index[nxt])
        if low[module] == index[module]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(successors):
        if module not in index:
            visit(module)
    return sorted(cycles)


def _describe(cycle: list[str], graph: Mapping[str, list[Import]]) -> str:
    members = set(cycle)
    edges = [
        f"{e.importer}:{e.line} -> {e.imported} ({e.kind})"
        for m in cycle
        for e in graph[m]
        if e.imported in members
    ]
    return "cycle among " + ", ".join(cycle) + ":\n    " + "\n    ".join(edges)


# --- the tree as it is -------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Import]]:
    return import_graph(ROOT)


def test_every_layer_names_a_module_of_the_tree(graph: dict[str, list[Import]]) -> None:
    # A key left behind by a move would silently stop guarding anything.
    assert [key for key in LAYERS if key not in graph] == []


def test_the_tree_keeps_its_layers(graph: dict[str, list[Import]]) -> None:
    assert layering_violations(graph) == []


def test_the_tree_has_no_import_cycles(graph: dict[str, list[Import]]) -> None:
    assert [_describe(cycle, graph) for cycle in import_cycles(graph)] == []


# --- the check itself, on synthetic trees -----------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> dict[str, list[Import]]:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    for package in OURS:  # every top-level package exists, as in the real tree
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return import_graph(root)


def test_a_clean_synthetic_tree_passes(tmp_path: Path) -> None:
    graph = _tree(
        tmp_path,
        {
            "protocol/codes.py": "import orjson\nfrom collections.abc import Sequence\n",
            "server/rules/state.py": "from protocol.codes import X\nfrom . import events\n",
            "server/rules/events.py": "",
            "store/rows.py": "from protocol import codes\n",
            "server/live/hub.py": "from store.rows import R\nfrom server.rules import state\n",
        },
    )
    assert layering_violations(graph) == []
    assert import_cycles(graph) == []
    # ``from . import events`` and ``from server.rules import state`` name the submodules.
    assert {e.imported for e in graph["server.rules.state"]} == {
        "protocol.codes",
        "server.rules.events",
    }
    assert {e.imported for e in graph["server.live.hub"]} == {"store.rows", "server.rules.state"}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # protocol and timers import nothing of ours.
        ({"protocol/codec.py": "from timers import clock\n"}, "protocol.codec:1 imports timers"),
        ({"timers/clock.py": "import store\n"}, "timers.clock:1 imports store"),
        # the pure rules and scheduling core import only the protocol...
        ({"server/rules/x.py": "from store import LogEntry\n"}, "server.rules.x:1 imports store"),
        (
            {
                "server/scheduling/core/solver.py": "from server.live import hub\n",
                "server/live/hub.py": "",
            },
            "server.scheduling.core.solver:1 imports server.live.hub",
        ),
        # ...even from inside a function, or for a type only.
        (
            {
                "server/rules/x.py": "def f():\n    from server.live.hub import Hub\n",
                "server/live/hub.py": "",
            },
            "server.rules.x:2 imports server.live.hub (function import)",
        ),
        (
            {
                "store/rows.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from server.live.services import Services\n",
                "server/live/services.py": "",
            },
            "store.rows:3 imports server.live.services (type-checking import)",
        ),
        # the live layer never reaches into the HTTP routes, relative or not.
        (
            {
                "server/live/hub.py": "from ..http.routes import sessions\n",
                "server/http/routes/sessions.py": "",
            },
            "server.live.hub:1 imports server.http.routes.sessions",
        ),
        (
            {
                "server/live/ws.py": "import server.http.routes\n",
                "server/http/routes/__init__.py": "",
            },
            "server.live.ws:1 imports server.http.routes",
        ),
    ],
)
def test_a_violation_is_caught(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    graph = _tree(tmp_path, files)
    problems = layering_violations(graph)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_a_module_outside_every_layer_is_reported(tmp_path: Path) -> None:
    graph = _tree(tmp_path, {"server/node/cli.py": "", "server/live/hub.py": ""})
    layers = {key: layer for key, layer in LAYERS.items() if key not in ("server", "server.node")}
    problems = layering_violations(graph, layers)
    # server.live.hub is still covered by its live-layer entry.
    assert problems == ["server: no entry in LAYERS", "server.node.cli: no entry in LAYERS"]


def test_the_table_can_be_rewritten_for_a_move(tmp_path: Path) -> None:
    # After the move into sub-packages, one key guards the whole live package.
    graph = _tree(
        tmp_path,
        {"server/live/hub.py": "from server.http import routes\n", "server/http/routes.py": ""},
    )
    layers = {**LAYERS, "server.live": Layer(allowed=OURS, forbidden=("server.http",))}
    assert layering_violations(graph, layers) == [
        "server.live.hub:1 imports server.http.routes (module import), "
        "which layer 'server.live' may not"
    ]


@pytest.mark.parametrize("kind", ["module", "function", "type-checking"])
def test_a_cycle_is_caught_whatever_kind_of_import_closes_it(tmp_path: Path, kind: str) -> None:
    closing = {
        "module": "from server import a\n",
        "function": "def f():\n    from server import a\n",
        "type-checking": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from server.a import A\n",
    }[kind]
    graph = _tree(
        tmp_path,
        {"server/a.py": "from server.b import B\n", "server/b.py": "from server.c import C\n"}
        | {"server/c.py": closing},
    )
    cycles = import_cycles(graph)
    assert cycles == [["server.a", "server.b", "server.c"]]
    assert f"server.c:{closing.count(chr(10))} -> server.a ({kind})" in _describe(cycles[0], graph)


def test_a_package_re_exporting_its_modules_is_no_cycle(tmp_path: Path) -> None:
    # ``store/__init__`` imports ``store._rows``; Python runs ``store/__init__``
    # first when ``store._rows`` is imported, but that edge is not counted.
    graph = _tree(
        tmp_path,
        {"store/__init__.py": "from store._rows import Row\n", "store/_rows.py": "import orjson\n"},
    )
    assert import_cycles(graph) == []
