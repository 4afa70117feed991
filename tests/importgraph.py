# -*- test-case-name: tests.test_layout -*-
"""
The import arrows between fourcut's modules, and the cycles among them.

    python -m tests.importgraph [--all] [--lazy] [PACKAGE_DIR]

prints one line per module (C{module -> imported, ...}) and then every
cycle: a strongly connected set of modules that import each other, directly
or through others. An import inside a function is an arrow too, marked
C{*}: it still ties the two modules together, so it counts in the cycles
unless C{--top} asks for module-level imports only. C{--folders} draws the
same arrows between fourcut's folders (C{fourcut.camera}, C{fourcut.web},
...; a top-level module is a place of its own), where C{web} importing
C{booth} and C{booth} importing C{web} is a cycle although no two modules
import each other. Exit status 1 when there is a cycle.

Read from the source with L{ast}: nothing is imported or run.
"""

import ast
import os
import sys

__all__ = ["module_imports", "graph", "folders", "cycles", "main"]


def _module_name(root, path):
    rel = os.path.relpath(path, os.path.dirname(root))
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(module, is_package, level, name):
    if level == 0:
        return name
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[:-(level - 1)]
    return ".".join(base + ([name] if name else []))


def module_imports(root, path, known):
    """
    The fourcut modules the file at C{path} imports, as a dict from name to
    C{True} for a module-level import, C{False} for one only inside a
    function or class body.
    """
    module = _module_name(root, path)
    is_package = path.endswith("__init__.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = {}

    def add(name, top):
        # "from package import module" names a module; otherwise the
        # longest known prefix is the module imported.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found[name] = found.get(name, False) or top

    def visit(node, top):
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, top)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(module, is_package, child.level,
                                child.module or "")
                for alias in child.names:
                    full = base + "." + alias.name if base else alias.name
                    add(full if full in known else base, top)
            visit(child, inner)

    visit(tree, True)
    return module, found


def graph(root):
    """
    {module: {imported module: top-level?}} for every module under the
    package directory C{root}.
    """
    paths = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        paths.extend(os.path.join(directory, f) for f in sorted(files)
                     if f.endswith(".py"))
    known = {_module_name(root, p) for p in paths}
    return dict(module_imports(root, p, known) for p in paths)


def cycles(edges, top_only=False):
    """
    The strongly connected sets of more than one module (Tarjan), each
    sorted, the largest first.
    """
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def arrows(module):
        return [m for m, top in edges.get(module, {}).items()
                if m in edges and (top or not top_only)]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in arrows(v):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return sorted(found, key=lambda g: (-len(g), g))


def folders(edges):
    """
    The same arrows between the folders under C{fourcut}: a module of
    C{fourcut/camera/} is C{fourcut.camera}; a module at the top of
    C{fourcut/} stays itself.
    """
    def place(module):
        return ".".join(module.split(".")[:2])
    merged = {}
    for module, imported in edges.items():
        arrows = merged.setdefault(place(module), {})
        for other, top in imported.items():
            if place(other) != place(module):
                arrows[place(other)] = arrows.get(place(other), False) or top
    return merged


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    argv_flags = [a for a in argv if a.startswith("--")]
    top_only = "--top" in argv_flags
    argv = [a for a in argv if not a.startswith("--")]
    root = argv[0] if argv else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "fourcut")
    edges = graph(root)
    if "--folders" in argv_flags:
        edges = folders(edges)
    for module in sorted(edges):
        names = ["%s%s" % (m, "" if top else "*")
                 for m, top in sorted(edges[module].items())]
        print("%s -> %s" % (module, ", ".join(names) or "(nothing)"))
    found = cycles(edges, top_only)
    print()
    print("%d places, %d arrows (* = only inside a function), %d cycles%s"
          % (len(edges), sum(len(v) for v in edges.values()), len(found),
             " (module-level imports only)" if top_only else ""))
    for group in found:
        print("cycle: " + " <-> ".join(group))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
