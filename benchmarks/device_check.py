r"""One command for an accelerator: tests, step speed, populations, bf16.

  python benchmarks/device_check.py                  # any GPU machine, <= 8 min
  python benchmarks/device_check.py --dry-run        # CPU, tiny sizes, < 1 min

Everything goes into one folder (``--out``; default ``$OUT`` when set, else
``benchmarks/results/device_check``): ``device_check.json`` (all numbers),
``device_check.md`` (the tables), ``device_check.log`` (this run's output),
``pytest.log`` (the test subset's output). The JSON and the table are
rewritten after every section, so a run stopped early keeps what it measured.

Sections, in order of priority (``--sections``):

1. ``env``: devices, versions.
2. ``tests``: ``pytest -m gpu_subset tests/`` (setup.cfg's marker: the step,
   the losses, the torch equivalence on CUDA in float32 to 1e-4, a population
   vmapped = its members run alone, the population / data meshes on the
   devices present, mixed precision), TF32 off (``JAX_DEFAULT_MATMUL_
   PRECISION=highest``), 4 xdist workers sharing the GPU (no preallocation).
3. ``speed``: steps/s of the SPEC §6 benchmark graphs (DML over resnet32,
   wrn28_2, resnet32, resnet110: 1-4 nodes; batch 64, then 128; 32x32x3, 100
   classes): ktg_jax (float32 and bf16 compute), torch eager, torch.compile,
   A B A B interleaved (benchmarks/harness.py), medians; first-step (compile)
   seconds; peak device memory (jax: the compiled step's buffers, XLA's
   memory analysis; torch: ``max_memory_allocated`` over init + first step).
4. ``population``: K = 1, 2, 4, 8, 16 graphs of one structure (2 x resnet20,
   different gates) as one vmapped program vs K sequential steps
   (``benchmarks/step_speed.py``'s ``run_population``).
5. ``precision``: the accuracy effect of bf16 compute on a short run
   (``training.fit`` on sklearn's digits, DML resnet8 x 2, float32 vs
   ``compute_dtype="bfloat16"``, same seed).

It never runs past ``--budget_s``: before each part it compares an estimate
(from what the run has measured so far) with the time left, and skips what
does not fit, saying so in the log, the JSON (``skipped``) and the table.

Packages: only what the device image has (jax, flax, optax, orbax, chex,
torch, scipy, sklearn, pytest, xdist) plus TWO carried wheels:

* ``ml_collections-1.1.0-py3-none-any.whl``: 76,707 bytes (75 KiB); needs
  absl-py and PyYAML, both in the image;
* ``dm_pix-0.4.5-py3-none-any.whl``: 56,980 bytes (56 KiB); needs chex and
  jax, both in the image.

``ktg_jax.run.training`` imports both (through the data pipeline's
RandAugment): the population test, the ``precision`` section and 34 test
modules need them (the first H200 run, 2026-12-04, carried only the first
and lost those). ``import ktg_jax``, ``compile`` and the step need neither, nor
Ray, Nevergrad, TFDS or tensorboardX (``tests/test_device_check.py`` checks
the import with those blocked).

The exact ``run`` command (carry list) is in docs/gpu.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SECTIONS = ("env", "tests", "speed", "population", "precision")
GRAPH_MODELS = ("resnet32", "wrn28_2", "resnet32", "resnet110")
POPULATIONS = (1, 2, 4, 8, 16)


class Sizes(dict):
  """The run's sizes: the full run, or the dry run's tiny ones."""
  __getattr__ = dict.__getitem__


FULL = Sizes(models=GRAPH_MODELS, nodes=(1, 2, 3, 4), batches=(64, 128),
             image=32, classes=100, steps=10, rounds=5,
             populations=POPULATIONS, population_models=("resnet20",) * 2,
             pop_steps=5, pop_rounds=3, fit_models=("resnet8",) * 2,
             fit_epochs=10, fit_limit=None,
             frameworks=("jax", "jax_bf16", "torch", "torch_compile"))
DRY = Sizes(models=("small_cnn",), nodes=(1,), batches=(8,),
            image=8, classes=10, steps=1, rounds=2, populations=(2,),
            population_models=("small_cnn",) * 2, pop_steps=1, pop_rounds=2,
            fit_models=("small_cnn",) * 2, fit_epochs=1, fit_limit=200,
            frameworks=("jax", "jax_bf16", "torch"))


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--out", default=os.environ.get("OUT") or os.path.join(
      ROOT, "benchmarks", "results", "device_check"))
  p.add_argument("--budget_s", type=float, default=None,
                 help="wall-clock budget of the whole run (default 450 s = "
                 "7.5 min; a dry run 50 s)")
  p.add_argument("--dry-run", dest="dry_run", action="store_true",
                 help="CPU, tiny sizes, < 1 minute (CI)")
  p.add_argument("--sections", default=",".join(SECTIONS),
                 help=f"comma-separated, of {', '.join(SECTIONS)}")
  args = p.parse_args(argv)
  if args.budget_s is None:
    args.budget_s = 50.0 if args.dry_run else 450.0
  unknown = [s for s in args.sections.split(",") if s not in SECTIONS]
  if unknown:
    p.error(f"--sections has {unknown}; allowed: {list(SECTIONS)}")
  return args


class Run:
  """The clock, the log and the results of one device check."""

  def __init__(self, args):
    self.args, self.t0 = args, time.monotonic()
    os.makedirs(args.out, exist_ok=True)
    self.log_file = open(os.path.join(args.out, "device_check.log"), "w")
    self.results = {"command": "python benchmarks/device_check.py " + " ".join(
        sys.argv[1:]), "dry_run": args.dry_run, "budget_s": args.budget_s,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "skipped": []}

  def elapsed(self) -> float:
    return time.monotonic() - self.t0

  def left(self) -> float:
    return self.args.budget_s - self.elapsed()

  def log(self, *parts) -> None:
    line = f"[{self.elapsed():6.1f}s] " + " ".join(str(p) for p in parts)
    print(line, flush=True)
    self.log_file.write(line + "\n")
    self.log_file.flush()

  def fits(self, what: str, estimate_s: float) -> bool:
    """True if ``estimate_s`` fits in the time left; else logs the skip."""
    if estimate_s <= self.left():
      return True
    self.log(f"SKIP {what}: needs ~{estimate_s:.0f} s, {self.left():.0f} s "
             "left of the budget")
    self.results["skipped"].append({"what": what, "estimate_s": round(
        estimate_s), "left_s": round(self.left())})
    return False

  def save(self) -> None:
    self.results["elapsed_s"] = round(self.elapsed(), 1)
    with open(os.path.join(self.args.out, "device_check.json"), "w") as f:
      json.dump(self.results, f, indent=1, default=str)
    with open(os.path.join(self.args.out, "device_check.md"), "w") as f:
      f.write(markdown(self.results))


# --- sections ------------------------------------------------------------------

def section_env(run, sizes):
  import jax
  import flax
  import optax
  env = {"python": platform.python_version(), "jax": jax.__version__,
         "flax": flax.__version__, "optax": optax.__version__,
         "backend": jax.default_backend(),
         "devices": [f"{d.platform}:{d.device_kind}" for d in jax.devices()],
         "host_cores": os.cpu_count()}
  try:
    import torch
    env["torch"] = torch.__version__
    env["torch_cuda"] = (torch.cuda.get_device_name(0)
                         if torch.cuda.is_available() else None)
  except ImportError:
    env["torch"] = None
  try:
    import ml_collections  # pylint: disable=unused-import
    env["ml_collections"] = True
  except ImportError:
    env["ml_collections"] = False
  run.results["env"] = env
  run.log("env", json.dumps(env))


def section_tests(run, sizes):
  """The gpu_subset tests in a child process (its own JAX, its own clock)."""
  # A test module that imports Ray / Nevergrad / TFDS (absent from a device
  # image) fails to collect; the marked tests in the other modules still run.
  cmd = [sys.executable, "-m", "pytest", "-m", "gpu_subset", "tests/", "-q",
         "-p", "no:cacheprovider", "--durations=10",
         "--continue-on-collection-errors"]
  env = dict(os.environ, JAX_DEFAULT_MATMUL_PRECISION="highest",
             XLA_PYTHON_CLIENT_PREALLOCATE="false", PYTHONUNBUFFERED="1")
  if run.args.dry_run:  # the marker selects and the command runs: CI's check
    cmd[5:6] = ["tests/test_losses.py", "--collect-only"]
  else:
    try:
      import xdist  # pylint: disable=unused-import
      cmd += ["-n", "4"]
    except ImportError:
      pass
  estimate = 10 if run.args.dry_run else 150
  if not run.fits("tests", estimate):
    return
  timeout = (min(run.left() - 5, 30.0) if run.args.dry_run
             else max(10.0, min(run.left() - 60, 300.0)))
  run.log("tests:", " ".join(cmd[1:]), f"(timeout {timeout:.0f} s)")
  t = time.monotonic()
  try:
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    out, code = res.stdout + res.stderr, res.returncode
  except subprocess.TimeoutExpired as e:
    out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (
        e.stdout or "")
    code = "timeout"
  with open(os.path.join(run.args.out, "pytest.log"), "w") as f:
    f.write(out)
  # pytest's own last line ("2 failed, 39 passed, 34 errors in 90s"), not a
  # plugin warning printed after it on stderr
  tail = [l for l in out.splitlines()
          if re.search(r"\d+ (passed|failed|errors?|deselected)", l)][-1:] or [
              ([l for l in out.splitlines() if l.strip()] or [""])[-1]]
  run.results["tests"] = {"returncode": code, "summary": tail[0],
                          "seconds": round(time.monotonic() - t, 1)}
  run.log("tests:", code, tail[0])


def _jax_peak_mib(program, state, batch, donate=True):
  """Peak device memory of the compiled step: its arguments, outputs and
  temporaries, less what donation aliases (XLA's memory analysis)."""
  import jax
  try:
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                          (state, batch))
    m = jax.jit(program.step, donate_argnums=(0,) if donate else ()).lower(
        *shapes).compile().memory_analysis()
    total = (m.argument_size_in_bytes + m.output_size_in_bytes
             + m.temp_size_in_bytes - m.alias_size_in_bytes)
    return round(total / 2**20, 1)
  except Exception:  # pylint: disable=broad-except
    return None


def _runners(run, sizes, used, x, y):
  """One runner per framework of the DML graph over ``used``; skips what the
  clock does not allow. Returns (runners, peak MiB per runner)."""
  import ktg_jax as ktg
  from benchmarks import harness as h
  spec = ktg.classic.dml(list(used))
  tag = "+".join(used)
  runners, peaks = [], {}
  est = run.results.setdefault("_estimates", {})
  for fw in sizes.frameworks:
    name = f"{fw}:{tag}"
    guess = est.get(fw, 5.0) * len(used) * (2 if not run.args.dry_run else 1)
    if not run.fits(f"speed {name} b{len(x)}", guess + 10):
      continue
    t = time.monotonic()
    try:
      if fw.startswith("jax"):
        r, program, state = h.jax_runner(
            name, spec, x, y, num_classes=sizes.classes,
            compute_dtype="bfloat16" if fw == "jax_bf16" else None)
        peaks[name] = _jax_peak_mib(program, state, {"image": x, "label": y})
      else:
        import torch
        cuda = torch.cuda.is_available()
        if cuda:
          torch.cuda.synchronize()
          torch.cuda.reset_peak_memory_stats()
        r = h.torch_runner(name, spec, x, y, num_classes=sizes.classes,
                           compile_mode="default" if fw == "torch_compile"
                           else None)
        if cuda:
          peaks[name] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
      runners.append(r)
    except Exception as e:  # pylint: disable=broad-except
      run.log(f"FAILED {name}: {type(e).__name__}: {e}"[:500])
      run.results.setdefault("failures", []).append(f"{name}: {e}"[:500])
    # seconds of init + compile + first step per node, for the next estimate
    est[fw] = max(est.get(fw, 0.0) * 0.5, (time.monotonic() - t) / len(used))
  return runners, peaks


def section_speed(run, sizes):
  from benchmarks import harness as h
  rows = run.results.setdefault("speed", [])
  for b in sizes.batches:
    x, y = h.batch(b, sizes.image, sizes.classes)
    for n in sizes.nodes:
      used = sizes.models[:n]
      tag = "+".join(used)
      runners, peaks = _runners(run, sizes, used, x, y)
      if not runners:
        continue
      # one timed step of each runner (a warm-up too) sizes the rounds
      round_s = sum(r.run(1) for r in runners) * sizes.steps
      if not run.fits(f"speed timing {tag} b{b}",
                      round_s * (sizes.rounds + 1)):
        continue
      rates = h.interleave(runners, sizes.steps, sizes.rounds)
      row = {"batch": b, "nodes": n, "models": list(used),
             "steps_per_s": {k.split(":")[0]: round(v["median"], 3)
                             for k, v in h.summary(rates).items()},
             "first_step_s": {r.name.split(":")[0]: round(r.setup_s, 2)
                              for r in runners},
             "init_s": {r.name.split(":")[0]: round(r.init_s, 2)
                        for r in runners},
             "peak_mib": {k.split(":")[0]: v for k, v in peaks.items()}}
      for a, c in (("jax", "torch"), ("jax_bf16", "torch"),
                   ("torch_compile", "torch"), ("jax", "torch_compile"),
                   ("jax_bf16", "jax")):
        if f"{a}:{tag}" in rates and f"{c}:{tag}" in rates:
          row[f"{a}/{c}"] = round(h.paired_ratio(rates, f"{a}:{tag}",
                                                 f"{c}:{tag}"), 3)
      rows.append(row)
      run.log("speed", json.dumps(row))
      run.save()


def section_population(run, sizes):
  from benchmarks import harness as h
  from benchmarks import step_speed
  rows = run.results.setdefault("population", [])
  x, y = h.batch(sizes.batches[0], sizes.image, sizes.classes)
  last = 20.0 if not run.args.dry_run else 12.0  # a vmapped compile
  for k in sizes.populations:
    if not run.fits(f"population K={k}", last * 1.5):
      continue
    t = time.monotonic()
    ns = argparse.Namespace(population=k, population_models=",".join(
        sizes.population_models), classes=sizes.classes, seeds=False,
                            steps=sizes.pop_steps, rounds=sizes.pop_rounds)
    try:
      row = step_speed.run_population(ns, x, y)
    except Exception as e:  # pylint: disable=broad-except
      run.log(f"FAILED population K={k}: {type(e).__name__}: {e}"[:500])
      run.results.setdefault("failures", []).append(f"population {k}: {e}"[:500])
      continue
    last = time.monotonic() - t
    row["seconds"] = round(last, 1)
    rows.append(row)
    run.log("population", json.dumps(row))
    run.save()
  try:
    import jax
    stats = jax.devices()[0].memory_stats() or {}
    run.results["device_peak_mib"] = round(
        stats.get("peak_bytes_in_use", 0) / 2**20, 1) or None
  except Exception:  # pylint: disable=broad-except
    pass


def section_precision(run, sizes):
  """float32 vs bf16 compute on a short run of the same graph and seed."""
  try:
    from ktg_jax.run import training
  except ImportError as e:
    run.log(f"SKIP precision: {e} (carry the ml_collections wheel)")
    run.results["skipped"].append({"what": "precision", "why": str(e)})
    return
  import ktg_jax as ktg
  from ktg_jax import data
  d = data.sealed(data.load("digits", seed=0, val_fraction=0.2,
                            limit=sizes.fit_limit))
  rows = run.results.setdefault("precision", [])
  last = 60.0 if not run.args.dry_run else 12.0
  for dtype in (None, "bfloat16"):
    if not run.fits(f"precision {dtype or 'float32'}", last * 1.2):
      continue
    cfg = training.default_config()
    cfg.update(dict(epochs=sizes.fit_epochs, batch_size=64,
                    learning_rate=0.05, lr_schedule="cosine", augment=False,
                    eval_split="val", checkpoint_every=0, resume=False,
                    save_variables=False, pictures=False, verbose=False,
                    seed=0, compute_dtype=dtype))
    t = time.monotonic()
    r = training.fit(ktg.classic.dml(list(sizes.fit_models)), d, cfg)
    last = time.monotonic() - t
    final = r.history[-1]
    row = {"compute_dtype": dtype or "float32",
           "models": list(sizes.fit_models), "epochs": sizes.fit_epochs,
           "val_accuracy": [round(float(a), 4) for a in final["accuracy"]],
           "train_loss": [round(float(v), 4) for v in final["train_loss"]],
           "seconds": round(last, 1)}
    rows.append(row)
    run.log("precision", json.dumps(row))
    run.save()
  if len(rows) == 2:
    run.results["precision_delta_pp"] = [round(100 * (b - a), 2) for a, b in
                                         zip(rows[0]["val_accuracy"],
                                             rows[1]["val_accuracy"])]


SECTION_FNS = {"env": section_env, "tests": section_tests,
               "speed": section_speed, "population": section_population,
               "precision": section_precision}


# --- the table -------------------------------------------------------------------

def _fmt(v, spec=".2f"):
  return "" if v is None else format(v, spec)


def markdown(res) -> str:
  env = res.get("env", {})
  out = [f"# Device check, {res['date']}", "",
         f"`{res['command']}`: {res.get('elapsed_s', 0)} s of a "
         f"{res['budget_s']:.0f} s budget{' (DRY RUN: tiny sizes)' if res['dry_run'] else ''}.",
         "", f"Devices: {', '.join(env.get('devices', []))}; jax "
         f"{env.get('jax')}, flax {env.get('flax')}, torch {env.get('torch')} "
         f"({env.get('torch_cuda') or 'no CUDA'}), python {env.get('python')}.",
         ""]
  if "tests" in res:
    t = res["tests"]
    out += [f"Tests (`pytest -m gpu_subset`): {t['summary']} (exit "
            f"{t['returncode']}, {t['seconds']} s).", ""]
  if res.get("speed"):
    fws = ["jax", "jax_bf16", "torch", "torch_compile"]
    out += ["## Step speed (steps/s, medians of interleaved rounds)", "",
            "| batch | graph | " + " | ".join(fws) + " | jax/torch | "
            "bf16/torch | compile/torch | first step s (jax, torch.compile) "
            "| peak MiB (jax, torch) |", "|" + "---|" * (len(fws) + 7)]
    for r in res["speed"]:
      s, f, p = r["steps_per_s"], r["first_step_s"], r["peak_mib"]
      out.append(
          f"| {r['batch']} | {'+'.join(r['models'])} | "
          + " | ".join(_fmt(s.get(k), ".1f") for k in fws)
          + f" | {_fmt(r.get('jax/torch'))} | {_fmt(r.get('jax_bf16/torch'))}"
          f" | {_fmt(r.get('torch_compile/torch'))} | {_fmt(f.get('jax'), '.1f')}"
          f", {_fmt(f.get('torch_compile'), '.1f')} | {_fmt(p.get('jax'), '.0f')}"
          f", {_fmt(p.get('torch'), '.0f')} |")
    out.append("")
  if res.get("population"):
    out += ["## Populations: K graphs in one vmapped program vs K sequential",
            "", "| K | graph-steps/s vmap | sequential | vmap/sequential | "
            "first step s (vmap) |", "|---|---|---|---|---|"]
    for r in res["population"]:
      g = r["graph_steps_per_s"]
      out.append(f"| {r['population']} | {_fmt(g.get('vmap'), '.1f')} | "
                 f"{_fmt(g.get('sequential'), '.1f')} | "
                 f"{_fmt(r['ratio vmap/sequential'])} | "
                 f"{_fmt(r['first_step_s'].get('vmap'), '.1f')} |")
    out.append("")
  if res.get("precision"):
    out += ["## Mixed precision: a short run, float32 vs bf16 compute", "",
            "| compute | models | epochs | val accuracy per node | train loss per node "
            "| s |", "|---|---|---|---|---|---|"]
    for r in res["precision"]:
      out.append(f"| {r['compute_dtype']} | {'+'.join(r['models'])} | "
                 f"{r['epochs']} | {r['val_accuracy']} | {r['train_loss']} | "
                 f"{r['seconds']} |")
    if "precision_delta_pp" in res:
      out.append(f"\nbf16 - float32, per node: {res['precision_delta_pp']} "
                 "points.")
    out.append("")
  if res.get("skipped"):
    out += ["## Skipped (did not fit the budget)", ""] + [
        f"- {s['what']}: " + (f"needs ~{s['estimate_s']} s, {s['left_s']} s "
                              "left" if "estimate_s" in s else s.get("why", ""))
        for s in res["skipped"]] + [""]
  if res.get("failures"):
    out += ["## Failures", ""] + [f"- {f}" for f in res["failures"]] + [""]
  return "\n".join(out)


def main(argv=None):
  args = parse(argv)
  if args.dry_run:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
  # JAX takes only what it uses (its peak is then a measure) and leaves the
  # rest of the GPU to torch and to the test subset's processes.
  os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  run = Run(args)
  sizes = DRY if args.dry_run else FULL
  run.log("device check:", run.results["command"], "out:", args.out)
  for name in args.sections.split(","):
    try:
      SECTION_FNS[name](run, sizes)
    except Exception as e:  # pylint: disable=broad-except
      run.log(f"FAILED section {name}: {type(e).__name__}: {e}"[:800])
      run.results.setdefault("failures", []).append(f"{name}: {e}"[:800])
    run.save()
  run.results.pop("_estimates", None)
  run.save()
  run.log("done:", os.path.join(args.out, "device_check.md"))
  print(markdown(run.results))
  return run.results


if __name__ == "__main__":
  main()
