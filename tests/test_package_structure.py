"""The package's shape: no import cycle, a core that knows no family.

Read from the source with ``ast`` (every ``import`` of a ``ktg_jax`` module,
at module level or inside a function), so the checks hold for imports that
run late too. ``python tests/test_package_structure.py --picture PATH`` draws
the import graph between the package's folders and top-level modules.
"""

import ast
import collections
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "ktg_jax")
# What the core may import besides itself: shared models, the checkpoint
# reader, and the parallel layout of its node axis. Never a family.
CORE_MAY_IMPORT = ("ktg_jax.core", "ktg_jax.models", "ktg_jax.checkpoint",
                   "ktg_jax.parallel.node_axis", "ktg_jax.parallel.sharding")


def modules() -> dict:
  """``{dotted module name: path}`` of every module of the package."""
  out = {}
  for d, _, files in os.walk(ROOT):
    for f in files:
      if f.endswith(".py"):
        path = os.path.join(d, f)
        rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3]
        name = rel.replace(os.sep, ".")
        out[name[:-len(".__init__")] if name.endswith(".__init__")
            else name] = path
  return out


def imports() -> dict:
  """``{module: {ktg_jax modules it imports}}``, resolved to known modules
  (``from ktg_jax.core import gates`` is ``ktg_jax.core.gates``)."""
  mods = modules()

  def resolve(name):
    while name and name not in mods:
      name = name.rpartition(".")[0]
    return name

  out = collections.defaultdict(set)
  for mod, path in mods.items():
    for node in ast.walk(ast.parse(open(path).read())):
      if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom) and node.module:
        names = [f"{node.module}.{a.name}" for a in node.names]
      else:
        continue
      for n in names:
        target = resolve(n) if n.startswith("ktg_jax") else ""
        if target and target != mod:
          out[mod].add(target)
  return out


def cycles(graph: dict) -> list:
  """Import cycles, each as a list of modules. A package importing its own
  submodules (its public face) is not one: the submodule runs after it."""
  found, state, stack = [], {}, []

  def visit(u):
    state[u] = 1
    stack.append(u)
    for v in sorted(graph.get(u, ())):
      if v.startswith(u + "."):
        continue
      if state.get(v) == 1:
        found.append(stack[stack.index(v):] + [v])
      elif v not in state:
        visit(v)
    stack.pop()
    state[u] = 2

  for u in sorted(graph):
    if u not in state:
      visit(u)
  return found


def test_no_import_cycle_anywhere_in_the_package():
  assert cycles(imports()) == []


def test_cycle_finder_finds_a_cycle():
  assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
  assert cycles({"p": {"p.x"}, "p.x": {"p"}}) == []


def test_core_imports_no_family():
  bad = {m: sorted(t for t in targets if not t.startswith(CORE_MAY_IMPORT))
         for m, targets in imports().items() if m.startswith("ktg_jax.core")}
  assert {m: t for m, t in bad.items() if t} == {}


def test_core_tests_no_node_kind_by_name():
  """What a kind does is its registered object's: the core never compares a
  kind with a name (``kind ==``) or names a kind that a family registers."""
  core = os.path.join(ROOT, "core")
  found = []
  for f in sorted(os.listdir(core)):
    if f.endswith(".py"):
      for i, line in enumerate(open(os.path.join(core, f)), 1):
        code = line.split("#")[0]
        if re.search(r"\bkind\s*[!=]=|[\"'](ema|ensemble|ssl)[\"']", code):
          found.append(f"{f}:{i}: {line.strip()}")
  assert found == []


def draw(path: str) -> None:
  """The import graph between folders and top-level modules, as a picture."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel
  import networkx as nx  # pylint: disable=import-outside-toplevel
  del matplotlib
  group = lambda m: ".".join(m.split(".")[:3 if m.startswith(
      "ktg_jax.families.") else 2])
  g = nx.DiGraph()
  for m, targets in imports().items():
    g.add_node(group(m))
    for t in targets:
      if group(t) != group(m):
        g.add_edge(group(m), group(t))
  fig = matplotlib_figure((12, 9))
  ax = fig.add_subplot()
  pos = nx.spring_layout(g, k=1.6, seed=0)
  nodelist = sorted(g.nodes)
  colour = ["tab:red" if n == "ktg_jax.core" else "tab:blue"
            if n.startswith("ktg_jax.families") else "tab:gray"
            for n in nodelist]
  nx.draw_networkx(g, pos, ax=ax, nodelist=nodelist, node_color=colour,
                   node_size=900, font_size=7, arrowsize=8, edge_color="0.7",
                   labels={n: n.replace("ktg_jax.", "") for n in g.nodes})
  ax.set_title("ktg_jax imports (red: core, blue: families, grey: the rest)")
  ax.axis("off")
  FigureCanvasAgg(fig)
  fig.savefig(path, dpi=110, bbox_inches="tight")


def matplotlib_figure(size):
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  return Figure(figsize=size)


if __name__ == "__main__":
  if sys.argv[1:2] == ["--picture"]:
    draw(sys.argv[2])
  else:
    print(*(" -> ".join(c) for c in cycles(imports())), sep="\n")
