"""The shape of the code: lines per module, import cycles, modules over the size guide.

    .venv/bin/python benchmarks/module_graph.py [--max-lines 300]

Every `import` / `from ... import` of a project module counts, at module level or inside a
function (a lazy import still ties two modules together). Cycles are the strongly connected
components of that graph with more than one module (networkx does the graph work). A package's
`__init__` is its package name. Prints figures; asserts nothing (tests/test_layout.py does).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("study", "analysis")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """Project modules that `path` imports (the longest known prefix of each name)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{a.name}" for a in node.names]
            # `from pkg import module` ties us to the module; `from module import name` to it
            if not all(n in known for n in names):
                names.append(base)
        for name in names:
            parts = name.split(".")
            for cut in range(len(parts), 0, -1):
                candidate = ".".join(parts[:cut])
                if candidate in known:
                    if candidate != this:
                        found.add(candidate)
                    break
    return found


def graph() -> nx.DiGraph:
    mods = modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name, lines=len(path.read_text().splitlines()))
        for target in imports(path, set(mods)):
            # `from study.orchestration.spec import x` names the package; its __init__ importing its
            # own submodules is not a cycle of the design
            if not target.startswith(name + "."):
                g.add_edge(name, target)
    return g


def cycles(g: nx.DiGraph) -> list[list[str]]:
    return sorted(sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-lines", type=int, default=300)
    args = parser.parse_args()
    g = graph()
    sizes = sorted(((g.nodes[n]["lines"], n) for n in g), reverse=True)
    print(f"{len(sizes)} modules, {sum(s for s, _ in sizes)} lines")
    for lines, name in sizes:
        flag = "  > max" if lines > args.max_lines else ""
        print(f"  {lines:5d}  {name}{flag}")
    found = cycles(g)
    print(f"import cycles: {len(found)}")
    for cycle in found:
        print("  " + " <-> ".join(cycle))
    over = [n for s, n in sizes if s > args.max_lines]
    print(f"modules over {args.max_lines} lines: {len(over)}")


if __name__ == "__main__":
    main()
