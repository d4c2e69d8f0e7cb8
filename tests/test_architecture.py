"""The house rules a newcomer walks: no import cycles between maple's modules (package __init__
re-exports aside), and each shared concept defined in one module only."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "maple"


def _modules() -> dict:
    out = {}
    for path in PKG.rglob("*.py"):
        if "_vendor" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path, modules: dict) -> set:
    """maple modules a file imports anywhere (function-level imports too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("maple"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("maple")}
    return out


def test_no_import_cycles():
    modules = _modules()
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}
    graph = {name: {m for m in _imports(path, modules) if m in modules and m not in packages and m != name}
             for name, path in modules.items() if name not in packages}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles)


def test_shared_concepts_have_one_definition():
    """Names that drifted when defined twice: each is assigned or defined in exactly one module."""
    wanted = {"NO_DATASET": "maple/grid.py", "OVERRIDE_SECTIONS": "maple/grid.py", "wrap_prompt": "maple/template.py",
              "is_local": "maple/paths.py", "effective_settings": "maple/tasks/spec.py", "cell_of": "maple/grid.py",
              "parse_cell": "maple/grid.py", "GPU_RULES": "maple/resources.py"}
    found: dict = {name: [] for name in wanted}
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in wanted:
            if re.search(rf"^(?:def {name}\(|{name}\s*=)", text, re.M):
                found[name].append(str(path.relative_to(ROOT)))
    assert found == {name: [home] for name, home in wanted.items()}
    # no hand-written cell-id regex or format outside the codec
    for path in PKG.rglob("*.py"):
        if path.name != "grid.py":
            assert not re.search(r"r\\\\d\+-b|/r\{[^}]*rank[^}]*\}-b\{", path.read_text(encoding="utf-8")), path
