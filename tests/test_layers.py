"""The package's layers point only down, and no import hides inside a function.

Layers, lowest first (a module may import its own package and any lower layer, nothing else):

  0  precursor_jax.core                        leaf types: time series, errors, geodesy, metrics
  1  config_base, config_checks                configs (import only core)
  1  signal, data, models                      numerics, readers, networks (never each other)
  2  synthetic, anomaly, training              generators, statistics, the training core
  3  data_builders (the tfds builders)
  4  tasks                                     one module per task, the registry, sweeps
  5  cli                                       what the entry points share
  6  train, sweep, detect, evaluate, qc, data_builders.*.build / .plot   entry points

Checked on the source (an AST walk, nothing imported): every project import resolves to a layer
no higher than the importer's (equal only inside one package), the module graph has no cycle,
and no function-local import names a project module (heavy optional packages such as matplotlib
may be imported inside functions). `find_violations` is tested on a made-up tree too, so a rule
that stopped firing would fail here.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROJECT = ("precursor_jax", "data_builders")
ENTRY_POINTS = {
  "precursor_jax.train",
  "precursor_jax.sweep",
  "precursor_jax.detect",
  "precursor_jax.evaluate",
  "precursor_jax.qc",
}
LAYERS = {
  "precursor_jax": 0,  # the package root (its __init__ imports nothing)
  "precursor_jax.core": 0,
  "precursor_jax.config_base": 1,
  "precursor_jax.config_checks": 1,
  "precursor_jax.signal": 1,
  "precursor_jax.data": 1,
  "precursor_jax.models": 1,
  "precursor_jax.synthetic": 2,
  "precursor_jax.anomaly": 2,
  "precursor_jax.training": 2,
  "data_builders": 3,
  "precursor_jax.tasks": 4,
  "precursor_jax.cli": 5,
}


def unit_of(module: str) -> str:
  """The package (or top-level module) a module belongs to, e.g. precursor_jax.data."""
  parts = module.split(".")
  if parts[0] == "data_builders":
    if len(parts) >= 3 and parts[2] in ("build", "plot"):
      return module  # the builder's command-line scripts are entry points
    return "data_builders"
  return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def layer_of(module: str) -> int:
  unit = unit_of(module)
  if module in ENTRY_POINTS or unit.startswith("data_builders."):
    return 6
  if unit not in LAYERS:
    raise KeyError(f"{module}: not in any layer of tests/test_layers.py; add its package there")
  return LAYERS[unit]


def module_sources(root: pathlib.Path = ROOT) -> dict[str, str]:
  """Module name -> source of every .py file of the project packages."""
  sources = {}
  for package in PROJECT:
    for path in sorted((root / package).rglob("*.py")):
      parts = list(path.relative_to(root).with_suffix("").parts)
      if parts[-1] == "__init__":
        parts = parts[:-1]
      sources[".".join(parts)] = path.read_text()
  return sources


def _resolve(name: str, known: set[str]) -> str | None:
  """The project module an import names (a name imported from a package may be a submodule)."""
  while name:
    if name in known:
      return name
    name = name.rpartition(".")[0]
  return None


def imports_of(module: str, source: str, known: set[str]) -> list[tuple[str, bool, int]]:
  """(imported project module, inside a function?, line) for every import in the source."""
  tree = ast.parse(source)
  found = []

  def visit(node, in_function):
    for child in ast.iter_child_nodes(node):
      nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
      if isinstance(child, ast.Import):
        for alias in child.names:
          target = _resolve(alias.name, known)
          if target:
            found.append((target, in_function, child.lineno))
      elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
        for alias in child.names:
          target = _resolve(f"{child.module}.{alias.name}", known) or _resolve(child.module, known)
          if target:
            found.append((target, in_function, child.lineno))
      visit(child, nested)

  visit(tree, False)
  return found


def find_violations(sources: dict[str, str]) -> list[str]:
  """Every broken rule of the module doc, as readable lines (empty when the tree is clean)."""
  known = set(sources)
  problems, graph = [], {}
  for module, source in sources.items():
    edges = set()
    for target, in_function, line in imports_of(module, source, known):
      if target == module:
        continue
      if in_function:
        problems.append(f"{module}:{line} imports {target} inside a function")
      same_unit = unit_of(target) == unit_of(module)
      if not same_unit and layer_of(target) >= layer_of(module):
        problems.append(
          f"{module}:{line} imports {target}: layer {layer_of(target)} is not below "
          f"layer {layer_of(module)}"
        )
      edges.add(target)
    graph[module] = edges
  problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(graph)]
  return problems


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """One cycle per strongly connected loop found by depth-first search."""
  state, stack, cycles = {}, [], []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for target in sorted(graph.get(node, ())):
      if state.get(target) == "open":
        cycles.append(stack[stack.index(target) :] + [target])
      elif target not in state:
        visit(target)
    stack.pop()
    state[node] = "done"

  for node in sorted(graph):
    if node not in state:
      visit(node)
  return cycles


def test_the_project_tree_keeps_its_layers():
  sources = module_sources()
  assert "precursor_jax.core.timeseries" in sources and "data_builders.ses_synthetic" in sources
  assert find_violations(sources) == []


def test_the_checker_catches_cycles_upward_and_local_imports():
  made_up = {
    "precursor_jax.core.a": "from precursor_jax.data import reader\n",  # upward: core -> data
    "precursor_jax.data.reader": "import numpy\n",
    "precursor_jax.signal.x": "from precursor_jax.signal import y\n",
    "precursor_jax.signal.y": "from precursor_jax.signal import x\n",  # a cycle within signal
    "precursor_jax.models.m": "def f():\n  from precursor_jax.core import a\n",  # local import
    "precursor_jax.data.z": "from precursor_jax.signal import x\n",  # sideways: data -> signal
  }
  problems = find_violations(made_up)
  assert any("core.a:1 imports precursor_jax.data.reader" in p for p in problems), problems
  assert any("import cycle" in p and "signal.x" in p for p in problems), problems
  assert any("inside a function" in p for p in problems), problems
  assert any("data.z:1 imports precursor_jax.signal.x" in p for p in problems), problems
  assert find_violations({"precursor_jax.data.reader": "import numpy\n"}) == []
