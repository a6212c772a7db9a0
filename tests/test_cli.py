"""The scripts' command line (ktg_jax/cli/common.py): config paths found from
anywhere, --graph of every classic builder or a JSON file, one-line usage
errors naming the file and the field; run folders that never lose work."""

import json
import os
import subprocess
import sys

from absl import app
import pytest

from ktg_jax import classic, data
from ktg_jax.run import run_files
from ktg_jax.run import training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from ktg_jax.cli import common


def test_config_path_is_found_beside_the_scripts_from_any_folder(tmp_path,
                                                                 monkeypatch):
  monkeypatch.chdir(tmp_path)
  argv = common.resolve_config_argv(
      ["x.py", "--config=configs/digits.py", "--config.epochs=2"])
  assert argv == ["x.py", "--config=" + os.path.join(
      ROOT, "experiments", "configs", "digits.py"), "--config.epochs=2"]
  argv = common.resolve_config_argv(["x.py", "--config",
                                     "experiments/configs/digits.py:arg"])
  assert argv[2] == os.path.join(ROOT, "experiments", "configs",
                                 "digits.py") + ":arg"
  with pytest.raises(app.UsageError, match="--config=nope.py: no such file"):
    common.resolve_config_argv(["x.py", "--config=nope.py"])


def test_every_classic_builder_is_a_graph_flag():
  assert set(common.GRAPH_BUILDERS) == set(classic.BUILDERS)
  for name in classic.BUILDERS:
    spec = common.build_graph(name, "small_cnn,small_cnn,small_cnn", "/a,/b")
    assert spec.num_nodes >= 1, name
  assert common.build_graph("dml", "small_cnn").num_nodes == 2
  with pytest.raises(app.UsageError, match="needs --teacher_checkpoint"):
    common.build_graph("kd", "small_cnn,small_cnn")
  with pytest.raises(app.UsageError) as e:
    common.build_graph("nope", "small_cnn")
  assert all(name in str(e.value) for name in classic.BUILDERS)


def test_graph_flag_takes_a_json_file_and_names_its_errors(tmp_path):
  path = str(tmp_path / "g.json")
  classic.dml(2, "small_cnn").save(path)
  assert common.build_graph(path, "") == classic.dml(2, "small_cnn")
  with open(path, "w") as f:
    f.write('{"nodes": [\n  "small_cnn",\n}')
  with pytest.raises(app.UsageError,
                     match=f"{path}: not valid JSON: line 3 column 1"):
    common.build_graph(path, "")
  spec = classic.dml(2, "small_cnn").to_json()
  spec["edges"][0]["gate"] = {"name": "sinus"}
  with open(path, "w") as f:
    json.dump(spec, f)
  with pytest.raises(app.UsageError, match=f"{path}: .*sinus.*allowed"):
    common.build_graph(path, "")


def _script(*argv, script="train.py"):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments",
                                                      script), *argv],
                        capture_output=True, text=True, env=env, timeout=120)


def test_bad_invocations_answer_in_one_line(tmp_path):
  out = _script("--config=nope.py")
  assert out.returncode == 2
  assert out.stderr.strip().splitlines() == [
      out.stderr.strip()] and "--config=nope.py: no such file" in out.stderr
  out = _script("--config=configs/digits.py", "--config.models=resnet99")
  lines = out.stderr.strip().splitlines()
  assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
  assert "--config.models=resnet99" in lines[0] and "small_cnn" in lines[0]


def test_an_unknown_space_lists_every_preset_ch5_included(tmp_path):
  from ktg_jax.search import presets  # pylint: disable=import-outside-toplevel
  out = _script("--space=nope", f"--workdir={tmp_path}", script="search.py")
  lines = out.stderr.strip().splitlines()
  assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
  assert set(presets.SEMI_SUPERVISED) <= set(presets.PRESETS)
  for name in presets.PRESETS:
    assert repr(name) in lines[0], name


def _tiny_config(**kw):
  c = training.default_config()
  c.update(epochs=1, batch_size=32, verbose=False, pictures=False,
           learning_rate=0.05, lr_schedule="cosine", lr_boundaries=())
  c.update(kw)
  return c


def test_a_used_run_folder_is_refused_and_a_resume_rewrites_metrics(tmp_path):
  small = data.load("digits", limit=160)
  spec, wd = classic.vanilla("small_cnn"), str(tmp_path / "run")
  training.fit(spec, small, _tiny_config(), wd)
  with pytest.raises(run_files.RunFolderInUseError,
                     match=r"holds a run.*--config\.resume=True.*another --workdir"):
    training.fit(spec, small, _tiny_config(), wd)
  training.fit(spec, small, _tiny_config(resume=True, epochs=2), wd)
  with open(os.path.join(wd, "metrics.jsonl")) as f:
    epochs = [json.loads(l)["epoch"] for l in f]
  assert epochs == [1, 2]  # the restored epoch once, then the new one


def test_progress_says_compiling_and_gives_an_eta(capsys):
  small = data.load("digits", limit=160)
  training.fit(classic.vanilla("small_cnn"), small,
               _tiny_config(verbose=True, epochs=2))
  out = capsys.readouterr().out.splitlines()
  assert out[0].startswith("compiling the step ...") and out[0].endswith(" s")
  epochs = [l for l in out if l.startswith("epoch ")]
  assert len(epochs) == 2  # no terminal: one line per epoch
  assert " eta " in epochs[0] and epochs[1].endswith("eta 0s")


# Each bad invocation of the convention's scripts: (script, argv, what the one
# line must name).
BAD = [
    ("search.py", ["--workdir=/tmp/x", "--config.labels_per_class=5",
                   "--space=ch5_tiny", "--config.dataset=nope"],
     "--config.dataset='nope' is invalid"),
    ("search.py", ["--workdir=/tmp/x", "--epochs=3"],  # a removed flag
     "Unknown command line flag 'epochs'"),
    ("refine.py", ["--workdir=/tmp/x", "--config.stages=random,nope"],
     "--config.stages has ['nope']"),
    ("refine.py", ["--workdir=/tmp/x", "--seeds=0,a"], "--seeds=0,a"),
    ("pretrain.py", ["--workdir=/tmp/x", "--config.dataset=nope"],
     "--config.dataset='nope' is invalid"),
    ("pretrained_graphs.py", ["--workdir=/tmp/x", "--init_source=fractal"],
     "init_source='fractal'"),
    ("reproduce.py", ["--workdir=/tmp/x", "--seeds=x"], "--seeds=x"),
    # ch4's attention crops: the field named, with its bad value
    ("search.py", ["--workdir=/tmp/x", "--space=ch4", "--crop_sizes=0,3"],
     "crop_sizes=(0, 3) is invalid"),
    ("search.py", ["--workdir=/tmp/x", "--space=ch4", "--crop_sizes=2,x"],
     "crop_sizes=(2, 'x') is invalid"),
    # 000's learners: a learner string's unknown parameter named
    ("search.py", ["--workdir=/tmp/x", "--space=ssl000",
                   "--learner=simclr:temp=0.2"], "learners='simclr:temp=0.2'"),
    ("train.py", ["--config=configs/digits.py", "--graph=nope"],
     "--graph='nope'"),
    # a misspelt field, of the default config and of one given
    ("pretrain.py", ["--workdir=/tmp/x", "--config.epochz=3"],
     "--config.epochz: no such field; did you mean --config.epochs?"),
    ("refine.py", ["--config=configs/refine003.py", "--config.epochz=3"],
     "--config.epochz: no such field; did you mean --config.epochs?"),
    ("refine.py", ["--config=configs/refine003.py:nope"],
     "refine003.py:nope: ValueError: refine003.py:nope; allowed: cpu, "
     "cifar100"),
    ("pretrain.py", ["--config.epochs=abc"], "--config.epochs=abc"),
    ("pretrain.py", ["--config.zzzqq=1"], "--config.zzzqq: no such field"),
]


@pytest.mark.parametrize("script,argv,named", BAD,
                         ids=[f"{s}:{a[-1]}" for s, a, _ in BAD])
def test_every_script_answers_a_bad_invocation_in_one_line(script, argv,
                                                           named):
  out = _script(*argv, script=script)
  lines = out.stderr.strip().splitlines()
  assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
  assert named in out.stderr, out.stderr[-2000:]


def _project_scripts() -> dict:
  import tomllib  # pylint: disable=import-outside-toplevel
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    return tomllib.load(f)["project"]["scripts"]


def test_console_scripts_are_the_scripts_entry_points():
  """[project.scripts] as pip installs them: the wrapper imports the module
  and calls the function, with argv[0] the command's name."""
  scripts = _project_scripts()
  assert {"ktg-train", "ktg-search", "ktg-reproduce"} <= set(scripts)
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  for name, target in scripts.items():
    module, function = target.split(":")
    code = (f"import sys; sys.argv = [{name!r}, '--helpshort']; "
            f"import {module} as m; m.{function}()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, env=env, timeout=120, cwd="/")
    # absl's --help* ends with exit status 1
    assert out.returncode in (0, 1) and not out.stderr, (name, out.stderr)
    assert f"USAGE: {name}" in out.stdout or name in out.stdout, name
    for flag in ("--config", "--workdir"):
      assert flag in out.stdout, (name, flag, out.stdout[-2000:])
    # experiments/<script>.py is the same command
    script = os.path.join(ROOT, "experiments",
                          module.rsplit(".", 1)[1] + ".py")
    with open(script) as f:
      assert f"{module.rsplit('.', 1)[1]}.{function}()" in f.read(), script
