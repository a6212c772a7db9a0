"""The self-supervised regime's knobs (issue 26; docs/ssl_regime.md) and the
pilot script (experiments/ssl_pilot.py) without long training.

- ``ktg_jax.named``: "name:key=value" strings;
- a learner string with parameters: the own term equals a numpy NT-Xent at
  the given T (SimCLR eq. 1), the heads take the given widths;
- a view kind with parameters equals the ``ViewConfig`` view;
- ``warmup_cosine`` equals the numpy formula (linear warm-up, half-cosine);
- the pilot: overrides, raw-pixel KNN against a numpy vote, resumable JSONL.
References are numpy, written from the published formulas.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as scipy_stats

import ktg_jax as ktg
from ktg_jax import LABEL, GraphSpec, Node, data, models, named, optim, stats
from ktg_jax.cli import common
from ktg_jax.core import gates
from ktg_jax.data import randaugment, ssl_views
from ktg_jax.families.ssl import learner as ssl_learner
from ktg_jax.models.small_cnn import SmallCNN
from ktg_jax.run import training

from experiment_scripts import import_script
from numpy_references import knn_votes, nt_xent

ssl_pilot = import_script("ssl_pilot")


TINY = "small_cnn_w4_regimetest"
models.register(TINY, functools.partial(SmallCNN, width=4))


def test_named_strings_parse_and_format_back():
  got = named.parse("ssl: min_scale=0.2, blur_prob=0.5,flip=true,mode=x")
  assert got == ("ssl", {"min_scale": 0.2, "blur_prob": 0.5, "flip": True,
                         "mode": "x"})
  assert isinstance(named.parse("a:n=3").params["n"], int)
  assert named.parse(named.format_named("v", {"b": 2, "a": 0.5})) == (
      "v", {"a": 0.5, "b": 2})
  for bad in ("ssl:min_scale", "ssl:=3", "ssl:a=1,a=2"):
    with pytest.raises(ValueError, match="allowed"):
      named.parse(bad)


@pytest.mark.parametrize("t", [0.2, 0.5])
def test_learner_string_sets_the_temperature_and_widths(t):
  spec = GraphSpec(nodes=[Node(TINY, kind="ssl", learner=(
      f"simclr:temperature={t},hidden_dim=12,proj_dim=6"))],
                   edges={(LABEL, 0): gates.Through()})
  views = {"a": lambda rng, x: x, "b": lambda rng, x: x[:, :, ::-1]}
  prog = ktg.compile(spec, num_classes=10, total_steps=10,
                     optimizer=ktg.optim.sgd(0.1), views=views)
  d = data.load("digits", limit=64)
  x = d.train.images[:16]
  state = prog.init(jax.random.key(0), x)
  module = prog.modules[0]
  assert (module.hidden_dim, module.proj_dim, module.learner) == (
      12, 6, "simclr")
  out, _ = module.apply(ktg.node_variables(state, 0),
                        np.concatenate([x, x[:, :, ::-1]]), train=True,
                        mutable=["batch_stats"])
  z = np.asarray(out["projection"], np.float64)
  assert z.shape == (32, 6)
  _, m = prog.step(state, {"image": x, "label": d.train.labels[:16]})
  np.testing.assert_allclose(float(m["label_loss"][0]),
                             nt_xent(z[:16], z[16:], t), rtol=2e-4)


def test_learner_string_errors_name_the_allowed_values():
  assert ssl_learner.learner_params("moco") == ("moco", {"queue_size": 4096},
                                                {})
  assert ssl_learner.learner_params("moco:queue_size=256")[1] == {
      "queue_size": 256}
  with pytest.raises(ValueError, match="temperature"):
    GraphSpec(nodes=[Node(TINY, kind="ssl", learner="simclr:temp=0.2")],
              edges={(LABEL, 0): gates.Through()})
  with pytest.raises(ValueError, match="barlow_twins"):
    GraphSpec(nodes=[Node(TINY, kind="ssl", learner="simclrr:temperature=1")],
              edges={(LABEL, 0): gates.Through()})


def test_learner_string_sets_the_momentum_encoders_base():
  # BYOL §3.2's cosine tau = 1 - (1 - base)(cos(pi k / K) + 1) / 2.
  for k in (0, 3, 10):
    want = 1 - (1 - 0.99) * (np.cos(np.pi * k / 10) + 1) / 2
    np.testing.assert_allclose(
        ssl_learner.momentum("byol:momentum=0.99", k, 10), want, rtol=1e-6)
  np.testing.assert_allclose(ssl_learner.momentum("byol", 0, 10), 0.996,
                             rtol=1e-6)
  np.testing.assert_allclose(ssl_learner.momentum("moco:momentum=0.99", 7, 10),
                             0.99, rtol=1e-6)
  with pytest.raises(ValueError, match="momentum"):  # no momentum encoder
    GraphSpec(nodes=[Node(TINY, kind="ssl", learner="simclr:momentum=0.9")],
              edges={(LABEL, 0): gates.Through()})


def test_view_kind_with_parameters_is_the_view_config_view():
  x = jax.random.uniform(jax.random.key(3), (4, 12, 12, 1))
  key = jax.random.key(5)
  got = randaugment.make_view("ssl:min_scale=0.3,blur_prob=1.0,flip_prob=0")(
      key, x)
  want = ssl_views.ssl_view(ssl_views.ViewConfig(
      min_scale=0.3, blur_prob=1.0, flip_prob=0.0))(key, x)
  np.testing.assert_array_equal(got, want)
  default = randaugment.make_view("ssl")(key, x)
  assert not np.allclose(got, default)
  with pytest.raises(ValueError, match="min_scale"):
    randaugment.make_view("ssl:min_scal=0.3")


def test_warmup_cosine_matches_numpy():
  lr, total, warm = 0.3, 200, 0.1
  w = int(round(warm * total))
  k = np.arange(total + 1)
  want = np.where(k < w, lr * k / w,
                  0.5 * lr * (1 + np.cos(np.pi * (k - w) / (total - w))))
  got = np.asarray([float(optim.warmup_cosine(lr, total, warm)(i)) for i in k])
  np.testing.assert_allclose(got, want, atol=1e-6)
  cfg = training.default_config()
  cfg.learning_rate, cfg.epochs = lr, 10
  cfg.lr_schedule = "warmup_cosine:warmup=0.1"
  _, sched = training.make_optimizer(cfg, steps_per_epoch=20)
  np.testing.assert_allclose([float(sched(i)) for i in (0, 10, 20, 110, 200)],
                             want[[0, 10, 20, 110, 200]], atol=1e-6)
  cfg.lr_schedule = "cosin"
  with pytest.raises(ValueError, match="warmup_cosine"):
    training.make_optimizer(cfg, steps_per_epoch=20)


def test_pilot_raw_pixel_knn_matches_numpy():
  d = data.load("digits", seed=0, val_fraction=0.25, limit=200)
  proto = {"k5_T0.1": (5, 0.1, "features")}
  got = ssl_pilot.raw_pixel_knn(d, proto)
  fb = d.train.images.reshape(len(d.train.labels), -1).astype(np.float64)
  fq = d.val.images.reshape(len(d.val.labels), -1).astype(np.float64)
  mu = fb.mean(0)
  for tag, shift in (("raw_pixels", 0.0), ("raw_pixels_centred", mu)):
    pred = knn_votes(fb - shift, d.train.labels, fq - shift, 10, 5,
                     0.1).argmax(1)
    want = 100 * np.mean(pred == d.val.labels)
    assert got[tag]["k5_T0.1"] == pytest.approx(want, abs=1e-4)


def test_pilot_overrides_force_validation_and_name_bad_keys():
  base = common.load_module(common.config_path("ssl_regime.py")).get_config()
  base.eval_split = "test"
  cfg, learner = ssl_pilot.run_config(
      base, {"learner": "byol", "views": "ssl:min_scale=0.5",
             "weight_decay": 1e-5})
  assert (learner, cfg.views.a, cfg.views.b, cfg.weight_decay,
          cfg.eval_split, cfg.resume) == (
              "byol", "ssl:min_scale=0.5", "ssl:min_scale=0.5", 1e-5, "val",
              True)
  assert base.weight_decay != 1e-5   # the base is not changed
  with pytest.raises(ValueError, match="allowed"):
    ssl_pilot.run_config(base, {"weight_decy": 1.0})
  for name, over in ssl_pilot.PILOTS.items():   # every pilot is well formed
    cfg, learner = ssl_pilot.run_config(base, over)
    ssl_learner.learner_params(learner)
    randaugment.make_view(cfg.views.a)
    assert cfg.eval_split == "val", name


def test_pilot_results_are_resumable(tmp_path):
  path = str(tmp_path / "r" / "pilot.jsonl")
  assert ssl_pilot.done_runs(path) == set()
  ssl_pilot.append(path, {"run": "a", "knn": {}})
  ssl_pilot.append(path, {"run": "b", "knn": {}, "seed": 2})
  assert ssl_pilot.done_runs(path) == {("a", 0), ("b", 2)}
  todo = ssl_pilot.runs_to_do(["b", "baselines", "a"], [0, 2],
                              ssl_pilot.done_runs(path))
  assert todo == [("b", 0), ("baselines", 0), ("a", 2)]
  with open(path) as f:
    assert [json.loads(line)["run"] for line in f] == ["a", "b"]


def test_small_cnn_width_by_name():
  m = models.create("small_cnn_w8", 10)
  v = m.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)), train=False)
  assert v["params"]["conv0"]["kernel"].shape == (3, 3, 1, 8)
  assert v["params"]["conv1"]["kernel"].shape == (3, 3, 8, 16)
  assert "features" in models.outputs("small_cnn_w8")
  assert not models.exists("small_cnn_w0")


def test_regime_config_states_its_learner():
  base = common.load_module(common.config_path("ssl_regime.py")).get_config()
  assert base.learner == "simclr:temperature=0.2"
  assert ssl_pilot.run_config(base, {})[1] == base.learner
  assert ssl_learner.learner_params(base.learner)[1] == {"temperature": 0.2}


def test_seed_summary_is_mean_and_sample_std_over_seeds():
  recs = [{"run": "simclr", "seed": s, "knn": {ssl_pilot.MAIN: v}}
          for s, v in ((0, 78.0), (1, 80.0), (2, 79.0))]
  recs.append({"run": "raw_pixels", "knn": {ssl_pilot.MAIN: 68.0}})
  (line,) = ssl_pilot.seed_summary(recs)
  std = np.std([78.0, 80.0, 79.0], ddof=1)
  assert line.strip() == (f"simclr: 79.00 ± {std:.2f} over seeds [0, 1, 2] "
                          "(78.00 / 80.00 / 79.00)")
  # another run: its Welch p against SimCLR's seeds (numpy reference below)
  recs += [{"run": "dml_simclr_dogo", "seed": s, "knn": {ssl_pilot.MAIN: v}}
           for s, v in ((0, 81.0), (1, 82.5))]
  _, dml = ssl_pilot.seed_summary(recs)
  a, b = np.array([81.0, 82.5]), np.array([78.0, 80.0, 79.0])
  va, vb = a.var(ddof=1) / 2, b.var(ddof=1) / 3
  t = (a.mean() - b.mean()) / np.sqrt(va + vb)
  dof = (va + vb) ** 2 / (va ** 2 / 1 + vb ** 2 / 2)
  p = 2 * scipy_stats.t.sf(abs(t), dof)
  assert dml.strip().endswith(f"Welch p vs simclr {stats.format_p(p)}"), dml
  # several references (--versus): a p against each, none against itself
  simclr, dml = ssl_pilot.seed_summary(recs, ("dml_simclr_dogo", "simclr"))
  assert simclr.strip().endswith(
      f"(78.00 / 80.00 / 79.00); Welch p vs dml_simclr_dogo "
      f"{stats.format_p(p)}"), simclr
  assert dml.strip().endswith(
      f"(81.00 / 82.50); Welch p vs simclr {stats.format_p(p)}"), dml


def test_table_shows_one_split(tmp_path):
  path = str(tmp_path / "r.jsonl")
  for split, v in (("val", 78.0), ("test", 77.0)):
    ssl_pilot.append(path, {"run": "simclr", "seed": 0, "split": split,
                            "knn": {ssl_pilot.MAIN: v}, "loadavg_start": [1],
                            "loadavg_end": [1]})
  text = ssl_pilot.table(path, "test")
  assert text.startswith("KNN of the test queries") and "77.00" in text
  assert "78.00" not in text
  assert "78.00" in ssl_pilot.table(path)  # the pilot's, by default


def test_plot_draws_the_curves_and_names_an_empty_selection(tmp_path):
  path = str(tmp_path / "r.jsonl")
  ssl_pilot.append(path, {"run": "untrained_small_cnn",
                          "knn": {ssl_pilot.MAIN: 73.0}})
  for seed in (0, 1):
    ssl_pilot.append(path, {"run": "simclr", "seed": seed,
                            "knn": {ssl_pilot.MAIN: 78.0},
                            "model": "small_cnn",
                            "curve": [{"epoch": 4, "knn": 74.0},
                                      {"epoch": 5, "knn": float("nan")},
                                      {"epoch": 8, "knn": 78.0}]})
  png = ssl_pilot.plot([path], str(tmp_path / "c.png"))
  with open(png, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  with pytest.raises(ValueError, match=r"no trained run of \['byol'\]"):
    ssl_pilot.plot([path], str(tmp_path / "x.png"), ["byol"])
  other = str(tmp_path / "dml.jsonl")  # --plot_with: runs of another file
  ssl_pilot.append(other, {"run": "dml_simclr_dogo", "seed": 0,
                           "knn": {ssl_pilot.MAIN: 79.0},
                           "curve": [{"epoch": 8, "knn": 79.0}]})
  assert ssl_pilot.plot([path, other], str(tmp_path / "d.png"),
                        ["dml_simclr_dogo"]).endswith("d.png")
  with pytest.raises(ValueError, match="r.jsonl, .*dml.jsonl hold no"):
    ssl_pilot.plot([path, other], str(tmp_path / "y.png"), ["byol"])


def test_line_looks_colour_learners_or_runs_of_one_learner():
  simclr = {"run": "simclr", "learner": "simclr"}
  variant = {"run": "simclr_t0.5", "learner": "simclr:temperature=0.5"}
  swav = {"run": "swav", "learner": "swav"}
  dml = {"run": "dml_simclr_dogo", "learner": "simclr"}
  # several learners: a colour per learner, a line style per variant run,
  # seeds of one run look alike
  assert ssl_pilot.line_looks([simclr, variant, swav, simclr]) == [
      ("C0", "-"), ("C0", "--"), ("C1", "-"), ("C0", "-")]
  # one learner (SimCLR alone vs its DML pair): a colour per run
  assert ssl_pilot.line_looks([simclr, dml]) == [("C0", "-"), ("C1", "-")]


def test_test_split_runs_read_it_once_and_pairs_are_mutual_ssl_nodes():
  base = common.load_module(common.config_path("ssl_regime.py")).get_config()
  cfg, learner = ssl_pilot.run_config(base, ssl_pilot.PILOTS["simclr"], "test")
  assert (cfg.eval_split, cfg.eval_every_epochs) == ("test", 0)
  val_cfg, _ = ssl_pilot.run_config(base, {})
  assert val_cfg.eval_split == "val" and val_cfg.eval_every_epochs == 4
  spec = ssl_pilot.pilot_graph("small_cnn", learner,
                               ssl_pilot.PILOTS["dml_simclr_disco"])
  assert [n.learner for n in spec.nodes] == [learner] * 2 and spec.target == 0
  assert {k: e.loss for k, e in spec.edges.items() if k[0] != LABEL} == {
      (0, 1): "disco", (1, 0): "disco"}
  assert len(ssl_pilot.pilot_graph("small_cnn", learner, {}).nodes) == 1
  pair = ssl_pilot.pilot_graph("small_cnn", learner,
                               ssl_pilot.PILOTS["pair_simclr_barlow_dogo_t2"])
  assert [n.learner for n in pair.nodes] == [
      learner, "barlow_twins:scale_loss=0.1"]
  assert {e.loss for k, e in pair.edges.items() if k[0] != LABEL} == {
      "dogo_t2"}


def test_done_runs_are_per_split(tmp_path):
  path = str(tmp_path / "r.jsonl")
  ssl_pilot.append(path, {"run": "simclr", "seed": 1, "split": "val"})
  ssl_pilot.append(path, {"run": "simclr", "seed": 2, "split": "test"})
  ssl_pilot.append(path, {"run": "raw_pixels"})  # before splits were stored
  assert ssl_pilot.done_runs(path) == {("simclr", 1), ("raw_pixels", 0)}
  assert ssl_pilot.done_runs(path, "test") == {("simclr", 2)}


def test_a_pair_pilot_on_the_test_split_scores_both_nodes(tmp_path):
  """End to end on digits: a DoGo pair, one epoch, test queries; the record
  is the test split's, its headline the target's, the curve one point."""
  base = common.load_module(common.config_path("ssl_regime.py")).get_config()
  base.update(dataset="digits", limit=300, epochs=1, batch_size=64,
              eval_batch_size=200, models=TINY)
  base.views.a = base.views.b = "ssl:min_scale=0.5"
  d = data.from_config(base)
  rec = ssl_pilot.pilot("dml_simclr_dogo", base, d, str(tmp_path), 0, "test")
  assert rec["split"] == "test" and rec["seed"] == 0
  assert len(rec["knn_per_node"]) == 2
  assert rec["knn"] == rec["knn_per_node"][0]
  assert set(rec["knn"]) == set(ssl_pilot.PROTOCOLS)
  assert all(0 <= v <= 100 for v in rec["knn"].values())
  assert [h["epoch"] for h in rec["curve"]] == [1]
  np.testing.assert_allclose(rec["curve"][0]["knn"], rec["knn"][ssl_pilot.MAIN],
                             atol=1e-6)  # fit's KNN = the script's headline
  assert (tmp_path / "test_dml_simclr_dogo" / "seed0").is_dir()


def test_pilot_trains_a_searched_graph_as_its_own_row(tmp_path):
  """--runs=searched --graph=<best_graph.json>: the file's graph (not a
  PILOTS one) under the regime's config, every node scored, graph recorded."""
  base = common.load_module(common.config_path("ssl_regime.py")).get_config()
  base.dataset, base.limit, base.epochs, base.batch_size = "digits", 400, 1, 64
  base.eval_batch_size, base.checkpoint_every = 200, 1
  d = data.sealed(data.from_config(base))
  graph = ktg.classic.ssl_dml((TINY, TINY), ("simclr", "byol"), "disco")
  with pytest.raises(ValueError, match="needs --graph"):
    ssl_pilot.pilot(ssl_pilot.SEARCHED, base, d, str(tmp_path))
  with pytest.raises(ValueError, match="'searched' \\(with --graph\\)"):
    ssl_pilot.pilot("no_such_run", base, d, str(tmp_path))
  rec = ssl_pilot.pilot(ssl_pilot.SEARCHED, base, d, str(tmp_path), seed=1,
                        graph=graph)
  assert GraphSpec.from_json(rec["graph"]) == graph
  assert (rec["run"], rec["seed"], rec["model"], rec["learner"]) == (
      "searched", 1, TINY, "simclr")
  assert len(rec["knn_per_node"]) == 2
  assert rec["knn"] == rec["knn_per_node"][graph.target]
  assert all(0 <= v <= 100 for v in rec["knn"].values())
  assert (tmp_path / "searched" / "seed1").is_dir()
  # --export_variables: the finished run's final variables, written from its
  # last checkpoint without training, score what the row recorded
  folder = ssl_pilot.export_variables(ssl_pilot.SEARCHED, base, d,
                                      str(tmp_path), seed=1, graph=graph)
  mods = ktg.core.step.node_modules(graph, d.num_classes)
  for i, module in enumerate(mods):
    like = module.init(jax.random.key(0), d.val.images[:2], train=False)
    v = ktg.checkpoint.load_variables(f"{folder}/node{i}", like)
    assert ssl_pilot.node_scores(module, v, d) == rec["knn_per_node"][i]
  with pytest.raises(ValueError, match="last checkpoint is epoch None"):
    ssl_pilot.export_variables(ssl_pilot.SEARCHED, base, d, str(tmp_path),
                               seed=2, graph=graph)
