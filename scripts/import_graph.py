"""The import graph of lowdata's own modules, its cycles, and the largest functions (issue 20's measures).

    python scripts/import_graph.py [--src src/lowdata] [--edges] [--top 10]

Reads the source with `ast` (nothing is imported or run). Every `import` between lowdata's modules counts, those
deferred into function bodies included (they are still dependencies, only hidden). A cycle is a strongly connected
component of more than one module (Tarjan's algorithm). Exit code 1 when there is a cycle, so CI can hold the line.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys


def modules(src: str) -> dict[str, str]:
    """module name (lowdata.x.y) -> file path."""
    pkg = os.path.basename(os.path.normpath(src))
    out = {}
    for d, _, files in os.walk(src):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), src)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join([pkg, *rel])] = os.path.join(d, f)
    return out


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))
    return node.module or ""


def edges(mods: dict[str, str]):
    """[(importer, imported, deferred, line)] between modules of `mods`."""
    out = []
    for mod, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        is_pkg = path.endswith("__init__.py")
        funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inside = {id(x) for fn in funcs for x in ast.walk(fn) if x is not fn}
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                for a in node.names:  # `from . import runs`: the submodule when there is one
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in mods else base)
            for t in targets:
                while t and t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in mods and t != mod:
                    out.append((mod, t, id(node) in inside, node.lineno))
    return out


def cycles(graph: dict[str, set]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
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
    return out


def largest_functions(mods: dict[str, str], top: int):
    rows = []
    for mod, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = n.args
                nparams = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
                rows.append((n.end_lineno - n.lineno + 1, nparams, f"{mod}.{n.name}"))
    return sorted(rows, reverse=True)[:top]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src", "lowdata"))
    ap.add_argument("--edges", action="store_true", help="print every edge")
    ap.add_argument("--top", type=int, default=10, help="largest functions to list")
    a = ap.parse_args(argv)
    mods = modules(a.src)
    es = edges(mods)
    graph = {m: set() for m in mods}
    for src, dst, _, _ in es:
        graph[src].add(dst)
    pairs = {(s, d) for s, d, _, _ in es}
    deferred = sum(1 for s, d, x, _ in es if x)
    print(f"{len(mods)} modules, {len(es)} import statements between them ({deferred} deferred into functions), "
          f"{len(pairs)} distinct edges")
    if a.edges:
        for s, d, x, ln in sorted(es):
            print(f"  {s} -> {d}  (line {ln}{', deferred' if x else ''})")
    cyc = cycles(graph)
    print(f"cycles: {len(cyc)}")
    for c in cyc:
        print("  " + " <-> ".join(c))
    print(f"largest functions (lines, parameters):")
    for n, p, name in largest_functions(mods, a.top):
        print(f"  {n:4d} lines {p:3d} params  {name}")
    return 1 if cyc else 0


if __name__ == "__main__":
    sys.exit(main())
