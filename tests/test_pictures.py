"""Pictures: no global backend switch, a bar per node when a run was
evaluated once, two-way edge labels apart, class names on PCA legends."""

import itertools
import math
import subprocess
import sys

import numpy as np

from ktg_jax import classic, data
from ktg_jax.viz import run_pictures
from ktg_jax.viz import feature_pictures
from ktg_jax.core import gates
from ktg_jax.core.spec import LABEL, GraphSpec


def test_drawing_keeps_the_process_backend_and_never_loads_pyplot():
  code = """
import sys, tempfile, os, matplotlib
matplotlib.use("svg")
from ktg_jax import classic
from ktg_jax.viz import run_pictures
from ktg_jax.viz import feature_pictures
from ktg_jax.families.ensemble import attention_maps as viz_attention
from ktg_jax.search import report, edf
d = tempfile.mkdtemp()
run_pictures.draw_graph(classic.dml(2, "small_cnn"), os.path.join(d, "g.png"))
feature_pictures.draw_features([[0., 1.], [1., 0.], [2., 2.]], [0, 1, 1],
                           os.path.join(d, "f.png"))
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True).stdout.split()
  assert out == ["svg", "False"]


def _history(epochs, evaluated, nodes=2):
  return [{"epoch": e, "eval_split": "test",
           "accuracy": [0.5 + 0.1 * i if e in evaluated else math.nan
                        for i in range(nodes)],
           "train_loss": [1.0 / e] * nodes} for e in range(1, epochs + 1)]


def test_curves_are_bars_when_only_the_last_epoch_was_evaluated():
  spec = classic.dml(2, "small_cnn")
  fig = run_pictures.curves_figure(spec, _history(5, {5}))
  ax_acc = fig.axes[0]
  heights = [p.get_height() for p in ax_acc.patches]
  np.testing.assert_allclose(heights, [50.0, 60.0])  # one bar per node, in %
  assert not ax_acc.lines
  assert [t.get_text() for t in ax_acc.get_xticklabels()] == [
      "0: small_cnn (target)", "1: small_cnn"]


def test_curves_are_lines_over_the_evaluated_epochs():
  spec = classic.dml(2, "small_cnn")
  fig = run_pictures.curves_figure(spec, _history(6, {2, 4, 6}))
  ax_acc = fig.axes[0]
  assert not ax_acc.patches
  assert [list(l.get_xdata()) for l in ax_acc.lines] == [[2, 4, 6]] * 2


def _overlap(a, b):
  return not (a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0)


def test_two_way_edge_labels_do_not_overlap():
  # Long, multi-line labels both ways between every pair of 3 nodes.
  edges = {(LABEL, i): gates.Through() for i in range(3)}
  for s, t in itertools.permutations(range(3), 2):
    edges[(s, t)] = gates.Sine(f=0.123 + 0.3 * s, phi=4.71 - t)
  spec = GraphSpec(nodes=["small_cnn"] * 3, edges=edges)
  fig = run_pictures.graph_figure(spec)
  renderer = fig.canvas.get_renderer()
  ax = fig.axes[0]
  boxes = [t.get_window_extent(renderer) for t in ax.texts
           if t.get_text().startswith("sine")]
  assert len(boxes) == 6
  for a, b in itertools.combinations(boxes, 2):
    assert not _overlap(a, b), (a, b)


def test_label_point_is_the_arc3_curve():
  # t = 0.5 of the quadratic Bezier with control point m + rad * (dy, -dx).
  p, q, rad = (0.0, 1.0), (1.0, 0.0), 0.3
  c = np.array([0.5 - 0.3 * 1.0, 0.5 - 0.3 * 1.0])
  for at in (0.5, 0.68):
    want = (1 - at) ** 2 * np.array(p) + 2 * at * (1 - at) * c + at ** 2 * np.array(q)
    np.testing.assert_allclose(run_pictures.label_point(p, q, rad, at), want)


def test_pca_legend_names_the_classes():
  rng = np.random.default_rng(0)
  feats, labels = rng.normal(size=(30, 4)), np.repeat([0, 1, 2], 10)
  fig = feature_pictures.features_figure(
      feats, labels, class_names=data.class_names("fashion_mnist"))
  legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
  assert legend == ["T-shirt/top", "Trouser", "Pullover"]
