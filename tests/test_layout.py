# -*- test-case-name: tests.test_layout -*-
"""
fourcut's structure, as the redesign (issue 20) drew it, held by tests: no
module or folder imports another that imports it back, the schema and the
error vocabulary import no feature, and every module names its tests and
its public names.
"""

import ast
import importlib.util
import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests import importgraph
from tests.support import ROOT

PACKAGE = os.path.join(ROOT, "fourcut")


def modules():
    """
    C{(dotted name, path)} of every module of fourcut.
    """
    for directory, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                yield ".".join(rel), path


def _module_level(statements):
    """
    The statements run at module level: C{statements} and what stands in
    their C{try}, C{if} and C{with} blocks.
    """
    for node in statements:
        yield node
        if isinstance(node, (ast.Try, ast.If, ast.With)):
            for block in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


class ImportTests(TestCase):
    maxDiff = None

    def setUp(self):
        self.edges = importgraph.graph(PACKAGE)

    def test_graph_read(self):
        """
        The graph is read from the source: the arrows a reader sees.
        """
        self.assertIn("fourcut.stream.broadcast",
                      self.edges["fourcut.tap"])
        self.assertGreater(len(self.edges), 60)

    def test_no_module_cycle(self):
        """
        No two modules import each other, directly or through others, not
        even inside a function.
        """
        self.assertEqual(importgraph.cycles(self.edges), [])

    def test_no_folder_cycle(self):
        """
        The folders read as the data flow: camera, stream, web, with booth
        beside web; none imports one that imports it back.
        """
        self.assertEqual(importgraph.cycles(importgraph.folders(self.edges)),
                         [])

    def test_cycles_found(self):
        """
        The cycle finder finds a cycle (so the tests above can fail).
        """
        edges = {"a": {"b": True}, "b": {"c": False}, "c": {"a": True},
                 "d": {"a": True}}
        self.assertEqual(importgraph.cycles(edges), [["a", "b", "c"]])
        self.assertEqual(importgraph.cycles(edges, top_only=True), [])

    def test_web_does_not_import_booth(self):
        """
        The booth hands the site its resources; the web does not reach
        into the booth.
        """
        folders = importgraph.folders(self.edges)
        self.assertNotIn("fourcut.booth", folders["fourcut.web"])

    def test_leaves(self):
        """
        The schema (config) and the error vocabulary (errors) import no
        feature module: features depend on them, not the other way. What
        they import (the settings policy's names) imports nothing of
        fourcut.
        """
        for leaf in ("fourcut.config", "fourcut.errors"):
            for imported in set(self.edges[leaf]) - {"fourcut"}:
                self.assertEqual(set(self.edges[imported]) - {"fourcut"},
                                 set(), (leaf, imported))
        self.assertEqual(set(self.edges["fourcut.errors"]), set())

    def test_child_without_twisted(self):
        """
        The camera worker process loads no Twisted: what runs there
        (L{fourcut.camera.child}) imports only what the child needs.
        """
        code = ("import sys, fourcut.camera.child.worker; "
                "print(sorted(m for m in sys.modules "
                "if m.startswith(('twisted', 'fourcut'))))")
        out = subprocess.check_output(
            [sys.executable, "-c", code], cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT))
        loaded = ast.literal_eval(out.decode("ascii"))
        self.assertEqual([m for m in loaded if m.startswith("twisted")], [])
        self.assertIn("fourcut.camera.child.worker", loaded)


class ModuleHeaderTests(TestCase):
    maxDiff = None

    def test_test_case_name(self):
        """
        Every module starts with C{# -*- test-case-name: ... -*-} naming
        test modules that exist.
        """
        missing, wrong = [], []
        for name, path in modules():
            with open(path, encoding="utf-8") as f:
                first = f.readline()
            if "test-case-name:" not in first:
                missing.append(name)
                continue
            named = first.split("test-case-name:")[1].split("-*-")[0]
            for test in named.replace(",", " ").split():
                if importlib.util.find_spec(test) is None:
                    wrong.append((name, test))
        self.assertEqual((missing, wrong), ([], []))

    def test_all_declared(self):
        """
        Every module declares its public names in C{__all__}, and each name
        in it exists.
        """
        missing, unknown = [], []
        for name, path in modules():
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            declared, defined = None, set()
            for node in _module_level(tree.body):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                     ast.ClassDef)):
                    defined.add(node.name)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = (node.targets if isinstance(node, ast.Assign)
                               else [node.target])
                    for target in targets:
                        for leaf in ast.walk(target):
                            if isinstance(leaf, ast.Name):
                                defined.add(leaf.id)
                                if leaf.id == "__all__":
                                    declared = ast.literal_eval(node.value)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    for alias in node.names:
                        defined.add((alias.asname or alias.name)
                                    .split(".")[0])
            if declared is None:
                missing.append(name)
            else:
                unknown.extend((name, n) for n in declared
                               if n not in defined)
        self.assertEqual((missing, unknown), ([], []))
