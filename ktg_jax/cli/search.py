r"""Structure search of a KTG graph on Ray Tune (docs/papers.md §4).

  python experiments/search.py --space=tiny --num_nodes=3 \
      --config.dataset=digits --config.epochs=4 \
      --num_trials=16 --workers=2 --workdir=/tmp/ktg_search
  # no early stopping: 4 graphs per Ray trial, trained as one population
  python experiments/search.py --space=tiny --protocol=random --pack_size=4 \
      --num_trials=16 --workers=2 --workdir=/tmp/ktg_packs

The training protocol is ``--config`` (default configs/search.py: digits, 4
epochs a trial) and its fields ``--config.FIELD=...`` (epochs = ASHA's max_t,
dataset, data_dir, limit, labels_per_class for the ch5_* spaces, batch_size,
learning_rate, lr_schedule, augment; seed = the searcher's, the split's and
the trials'); the flags say what only a search has: the space, the
searcher and the resources. Installed, the same command is ``ktg-search``
(docs/cli.md).

Running the same command again after Ctrl-C / kill -9 resumes the search
(finished trials are kept). Writes into --workdir: trials.csv (every trial:
graph, epochs reached, rung, score, status, failure reason), best_graph.json
(usable as ``experiments/train.py --graph=...``), best_graph.png, scores.png,
events.jsonl, and Ray's state under tune/.
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags
import ray


from ktg_jax.cli import common  # the scripts' command line
from ktg_jax.search import progress
from ktg_jax.search import report
from ktg_jax.search import semi_spaces
from ktg_jax.search import space_ops
from ktg_jax.search import spaces
from ktg_jax.search import presets
from ktg_jax.run import training
from ktg_jax.search import tune as st
from ktg_jax import data as data_lib
from ktg_jax.search import trial

FLAGS = flags.FLAGS
_CONFIG = None  # set by define_flags


def define_flags() -> None:
  """Defines the command's flags when it runs (``cli``), not on import:
  absl flags are global, and ``ktg_jax.cli``'s commands share names
  (--config, --workdir, --seeds), so their modules import side by side
  (the doctests, the API reference) only this way."""
  global _CONFIG  # pylint: disable=global-statement
  flags.DEFINE_string("space", "tiny", "preset: "
                      f"{sorted(presets.PRESETS)}"
                      " (ch5_*: semi-supervised, needs labels_per_class)")
  flags.DEFINE_integer("num_nodes", None, "nodes of the graph (preset default)")
  flags.DEFINE_string("target_model", None, "override the target node's model")
  flags.DEFINE_list("aux_models", None, "override the auxiliary model choices")
  flags.DEFINE_list("gates", None, "override the gate choices of every edge")
  flags.DEFINE_multi_string(
      "learner", None, "000: the ssl learners searched, one flag each, a name "
      "or a learner string with parameters (--learner=simclr:temperature=0.2 "
      "--learner=barlow_twins:scale_loss=0.1); default: the preset's")
  flags.DEFINE_list("ssl_losses", None, "000: the node-edge losses searched "
                    "(default dogo,disco; at their reference codes' scales: "
                    "dogo_t2,disco_mean)")
  flags.DEFINE_list("crop_sizes", None, "ch4: attention crop sizes of every "
                    "attention design instead of the source family's (a "
                    "resnet8 map on 14 x 28 pairs is 4 x 7: 2,3,4)")
  flags.DEFINE_list("pretrained", [], "model=checkpoint_path pairs: all-Cutoff "
                    "auxiliary nodes of that model become frozen teachers")
  flags.DEFINE_boolean("search_pretrained", False, "search whether each "
                       "auxiliary node is a frozen pre-trained node (002)")
  flags.DEFINE_list("init_source", [], "source:model=checkpoint triples "
                    "(experiments/pretrain.py prints them): every node may start "
                    "from scratch or pre-trained on a source, then train (002)")
  flags.DEFINE_enum("protocol", "asha", sorted(st.PROTOCOLS), "; ".join(
      f"{p.name}: {p.why}" for p in st.PROTOCOLS.values()))
  flags.DEFINE_integer("pack_size", 1, "graphs per Ray trial, trained as one "
                       "population (protocols without ASHA only; "
                       "ktg_jax/search/packs.py)")
  flags.DEFINE_integer("seeds_per_graph", 1, "seeds each graph trains with "
                       "(one population per trial); its score is their mean "
                       "(one seed's score picks graphs by noise too)")
  flags.DEFINE_integer("grace_period", 1, "epochs before ASHA's first rung "
                       "(rungs at g, 2g, 4g, ...); raise it when one epoch is "
                       "too short for any graph to leave chance")
  flags.DEFINE_integer("num_trials", 16, "graphs to train")
  flags.DEFINE_integer("workers", 2, "trials at once (max_concurrent_trials)")
  flags.DEFINE_float("cpus_per_trial", 1.0, "CPUs reserved per trial; with "
                     "workers > 1 a CPU trial gets that many XLA threads "
                     "(tune.thread_env)")
  flags.DEFINE_float("gpus_per_trial", 0.0, "GPUs (fractions ok) per trial")
  _CONFIG = common.define_config(
      "search.py", "training protocol (experiments/configs/*.py; fields: "
      "--config.epochs=3 ...)")
  flags.DEFINE_integer("max_failures", 0, "retries of a crashed trial")
  flags.DEFINE_string("workdir", None, "where results and Ray state go")
  flags.DEFINE_alias("output_dir", "workdir")  # the old name
  flags.DEFINE_string("address", None, "join this Ray cluster (else a local "
                      "one); on several machines --workdir must be a shared "
                      "folder or a cloud URI Ray can write to")
  flags.DEFINE_integer("num_cpus", None, "CPUs of the local Ray (default all)")


def _pretrained(pairs) -> dict:
  out = {}
  for pair in pairs:
    model, sep, path = pair.partition("=")
    if not sep or not model or not path:
      raise app.UsageError(f"--pretrained={pair!r} is invalid; allowed: "
                           "model=checkpoint_path")
    out[model] = os.path.abspath(path)
  return out


def build_semi_space() -> semi_spaces.SemiSpace:
  """A ch.5 preset; the config's ema_decay (short runs need less than 0.999)
  and ema_bn (the EMA node's BatchNorm statistics)."""
  kw = {}
  if FLAGS.space == "ch5_fixmatch":
    kw = {"model": FLAGS.target_model} if FLAGS.target_model else {}
  else:
    kw = {k: v for k, v in dict(
        num_nodes=FLAGS.num_nodes, target_model=FLAGS.target_model,
        aux_models=tuple(FLAGS.aux_models) if FLAGS.aux_models else None
    ).items() if v is not None}
  space = presets.get(FLAGS.space, **kw)
  if FLAGS.gates:
    space = space._replace(gates=tuple(FLAGS.gates))
  config = _CONFIG.value
  if config.get("ema_decay") is not None:
    space = space._replace(ema_decay=config.ema_decay)
  if config.get("ema_bn") is not None:  # e.g. "own" (README)
    space = space._replace(ema_bn=config.ema_bn)
  return space.validate()


def crop_sizes(values) -> tuple | None:
  """``--crop_sizes=2,3,4`` -> ``(2, 3, 4)`` (None when not given); a value
  that is not an int is left as it is, for the space to name the field."""
  if not values:
    return None
  return tuple(int(v) if str(v).strip().lstrip("-").isdigit() else v
               for v in values)


def rungs(grace_period: int, epochs: int) -> str:
  """ASHA's rungs (reduction factor 2) as the search prints them.

  >>> rungs(1, 40), rungs(10, 40)
  ('1, 2, 4, 8, 16, 32', '10, 20')
  """
  out, r = [], grace_period
  while r < epochs:
    out.append(str(r))
    r *= 2
  return ", ".join(out)


def build_space():
  if FLAGS.space in presets.SEMI_SUPERVISED:
    return build_semi_space()
  overrides = {k: v for k, v in dict(
      target_model=FLAGS.target_model,
      aux_models=tuple(FLAGS.aux_models) if FLAGS.aux_models else None,
      gates=tuple(FLAGS.gates) if FLAGS.gates else None,
      crop_sizes=crop_sizes(FLAGS.crop_sizes),
      learners=tuple(FLAGS.learner) if FLAGS.learner else None,
      ssl_losses=tuple(FLAGS.ssl_losses) if FLAGS.ssl_losses else None
  ).items()
               if v is not None}
  return presets.get(FLAGS.space, FLAGS.num_nodes,
                    pretrained_checkpoints=_pretrained(FLAGS.pretrained),
                    search_pretrained=FLAGS.search_pretrained,
                    init_sources=spaces.init_sources_from(FLAGS.init_source),
                    **overrides)


def train_overrides() -> tuple[dict, dict]:
  """(training.fit overrides, data fields) of --config."""
  known = training.default_config().keys()
  config = _CONFIG.value
  train = {k: v for k, v in config.items() if k in known}
  data = dict(dataset=config.dataset, data_dir=config.get("data_dir"),
              limit=config.get("limit"), labels_per_class=None,
              val_fraction=config.get("val_fraction", 0.2))
  return train, data


def build_config(space):
  if not FLAGS.workdir:
    raise app.UsageError("--workdir is required")
  train, data = train_overrides()
  seed = train["seed"]  # the searcher's, the split's, every trial's
  if space.SEMI_SUPERVISED:  # ch.5
    data["labels_per_class"] = _CONFIG.value.get("labels_per_class")
    if data["labels_per_class"] is None:
      raise app.UsageError(f"--space={FLAGS.space} is semi-supervised: give "
                           "--config.labels_per_class=N or a config that "
                           "sets it")
    train["score"] = space.score  # the FixMatch space: the better node
  settings = st.Settings(data_seed=seed, train=train, **data)
  return st.validate(st.SearchConfig(
      space=space, output_dir=FLAGS.workdir, protocol=FLAGS.protocol,
      num_trials=FLAGS.num_trials, workers=FLAGS.workers,
      cpus_per_trial=FLAGS.cpus_per_trial, gpus_per_trial=FLAGS.gpus_per_trial,
      epochs=train["epochs"], settings=settings,
      max_failures=FLAGS.max_failures, seed=seed,
      pack_size=FLAGS.pack_size, grace_period=FLAGS.grace_period,
      seeds_per_graph=FLAGS.seeds_per_graph))


def main(argv):
  common.check_command_line(argv)
  common.require_config(_CONFIG.value, "search.py")
  if FLAGS.space not in presets.PRESETS:  # ch.3/4/000 and ch.5 alike
    raise app.UsageError(f"--space={FLAGS.space!r} is unknown; allowed: "
                         f"{sorted(presets.PRESETS)}")
  try:
    space = build_space()
    sc = build_config(space)
  except (space_ops.SpaceError, st.SearchError) as e:
    raise app.UsageError(str(e)) from None
  if sc.settings.dataset not in data_lib.SOURCES:
    raise app.UsageError(f"--config.dataset={sc.settings.dataset!r} is invalid; "
                         f"allowed: {sorted(data_lib.SOURCES)}")
  protocol = st.PROTOCOLS[sc.protocol]
  unit = "evaluations" if sc.settings.labels_per_class else "epochs"
  print(space.describe(), flush=True)
  print(f"protocol {protocol.name}: Nevergrad {protocol.optimizer}, "
        f"{f'ASHA (rungs {rungs(sc.grace_period, sc.epochs)} {unit})' if protocol.early_stopping else 'no early stopping'}"
        f"; {sc.num_trials} graphs, {sc.workers} trials at once"
        + (f", {sc.pack_size} graphs per trial (one population)"
           if sc.pack_size > 1 else "")
        + (f", each graph scored by the mean of {sc.seeds_per_graph} seeds "
           "(one population)" if sc.seeds_per_graph > 1 else ""), flush=True)
  try:  # a changed command must not silently resume the old search
    os.makedirs(sc.output_dir, exist_ok=True)
    st.check_same_search(sc)
  except st.SearchError as e:
    raise app.UsageError(str(e)) from None
  start = time.time()
  # Trials sharing a GPU get the allocator settings from their process start.
  fraction = (0.9 * FLAGS.gpus_per_trial if 0 < FLAGS.gpus_per_trial < 1
              else None)
  st.init_ray(FLAGS.address, FLAGS.num_cpus,
              env_vars={**trial.thread_env(sc.workers, sc.cpus_per_trial,
                                           sc.gpus_per_trial),
                        **trial.allocator_env(fraction)})
  try:
    grid = st.run(sc)
    trials = report.records(grid, space, sc.epochs,
                            os.path.join(sc.output_dir, progress.EVENTS))
  finally:
    ray.shutdown()
  paths = report.write_outputs(trials, sc.output_dir,
                               grace_period=sc.grace_period,
                               title=f"{space.name}, {sc.protocol}, "
                               f"{sc.settings.dataset}")
  print(f"[search] {report.summary(trials, sc.epochs, sc.grace_period)}")
  print(f"[search] wall time of this run: {time.time() - start:.0f} s")
  for name, path in paths.items():
    print(f"[search] {name}: {path}")


def cli() -> None:
  """The ``ktg-search`` command (``python experiments/search.py`` calls
  it)."""
  define_flags()
  common.own_help(__name__, __doc__)
  flags.mark_flag_as_required("workdir")
  common.run(main)


if __name__ == "__main__":
  cli()
