"""The package's layer rule, read from the imports of every file (function-local imports included):
utils (and choices) < data, models, loss, optim, scheduler < engine < eval < scripts. Blocks do not import each
other; nothing in mindcv imports a script; scripts and tools do not import each other; no import cycles."""
import ast
import os
from typing import Dict, List, Set, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ("train", "validate", "infer", "export", "config")
LAYERS = {"utils": 0, "choices": 0, "data": 1, "models": 1, "loss": 1, "optim": 1,
          "scheduler": 1, "engine": 2, "eval": 3}
BLOCKS = {"data", "models", "loss", "optim", "scheduler"}


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def _package_files() -> Dict[str, str]:
    found = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "mindcv")):
        for name in files:
            if name.endswith(".py"):
                found[_module_name(os.path.join(folder, name))] = os.path.join(folder, name)
    return found


def _imports(path: str, module: str) -> List[Tuple[str, int]]:
    """(absolute module imported, line) for every import statement of a file."""
    is_package = path.endswith("__init__.py")
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts if is_package else parts[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((target, node.lineno))
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]  # `from pkg import module`
    return found


def _top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _edges() -> Dict[str, Set[str]]:
    files = _package_files()
    graph = {}
    for module, path in files.items():
        targets = {target for target, _ in _imports(path, module) if target in files and target != module}
        # `from pkg import submodule` loads the submodule; pkg itself is already loading when pkg is the parent
        graph[module] = {t for t in targets if not (module.startswith(t + ".") and any(
            o.startswith(t + ".") for o in targets))}
    return graph


def test_layers_import_only_downwards():
    problems = []
    for module, path in _package_files().items():
        here = _top(module)
        for target, line in _imports(path, module):
            if target.split(".")[0] in SCRIPTS:
                problems.append(f"{module}:{line} imports the script {target}")
            if not target.startswith("mindcv.") or here not in LAYERS:
                continue
            there = _top(target)
            if there not in LAYERS or there == here:
                continue
            if LAYERS[there] > LAYERS[here] or (here in BLOCKS and there in BLOCKS):
                problems.append(f"{module}:{line} ({here}) imports {target} ({there})")
    assert not problems, "\n".join(problems)


def test_every_package_file_belongs_to_a_layer():
    assert {_top(m) for m in _package_files() if m != "mindcv"} <= set(LAYERS)


def test_no_import_cycles():
    graph = _edges()
    state: Dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: List[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                # a package's __init__ importing its own submodules is how packages work, not a cycle
                cycle = stack[stack.index(nxt):] + [nxt]
                if not all(b.startswith(a + ".") for a, b in zip(cycle, cycle[1:]) if a != b):
                    cycles.append(" -> ".join(cycle))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("script", ["train.py", "validate.py", "infer.py", "export.py", "config.py",
                                    "tools/avg_checkpoints.py", "tools/convert_weights.py"])
def test_scripts_do_not_import_each_other(script):
    path = os.path.join(ROOT, script)
    allowed = {"config"} if script != "config.py" and not script.startswith("tools/") else set()
    imported = {target.split(".")[0] for target, _ in _imports(path, _module_name(path))}
    assert not (imported & set(SCRIPTS)) - allowed


def test_library_never_raises_system_exit():
    for module, path in _package_files().items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                func = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                assert getattr(func, "id", "") != "SystemExit", f"{module}:{node.lineno} raises SystemExit"
