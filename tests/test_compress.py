"""Table 4.9 in the ch.4 regime without training: the attention crops sized
for a small map (checked against a numpy crop), the compression graph that
uses them, experiments/compress.py's per-seed teachers, records and table
(Welch p checked against the formula), experiments/configs/ch4_table49.py."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ktg_jax import classic
from ktg_jax.cli import common
from ktg_jax.core import losses
from ktg_jax.families.ensemble import attention_losses

from experiment_scripts import import_script

compress = import_script("compress")

CONFIG = common.load_module(common.config_path("ch4_table49.py")).get_config()


def numpy_crop_mse(src, tgt, sizes):
  """Mean over sizes of the mean squared difference of the L2-normalised
  k x k crops centred on the source's argmax, shifted inside the map."""
  h, w = src.shape
  r, c = np.unravel_index(np.argmax(src), src.shape)
  out = []
  for k in sizes:
    r0, c0 = min(max(r - k // 2, 0), h - k), min(max(c - k // 2, 0), w - k)
    qs = src[r0:r0 + k, c0:c0 + k].ravel()
    qt = tgt[r0:r0 + k, c0:c0 + k].ravel()
    out.append(np.mean((qs / np.linalg.norm(qs) - qt / np.linalg.norm(qt)) ** 2))
  return np.mean(out)


def test_sized_kind_is_kd_plus_the_crop_mse_of_those_sizes():
  name = attention_losses.sized_kind("kd_att_mse", (2, 3, 4))
  assert name == "kd_att_mse_crops2-3-4"
  assert attention_losses.sized_kind("kd_att_mse", [2, 3, 4]) == name  # once
  kind = losses.BY_NAME[name]
  assert kind.reads == ("logits", "attention") and kind.param_name == "temperature"
  rng = np.random.default_rng(0)
  src = rng.random((2, 4, 7)).astype(np.float32)   # a resnet8 map on 14 x 28
  tgt = rng.random((2, 4, 7)).astype(np.float32)
  zs = rng.normal(size=(2, 5)).astype(np.float32)
  zt = rng.normal(size=(2, 5)).astype(np.float32)
  got = kind.fn({"logits": jnp.asarray(zs), "attention": jnp.asarray(src)},
                {"logits": jnp.asarray(zt), "attention": jnp.asarray(tgt)},
                jnp.float32(2.0))
  kd = np.asarray(losses.kd(jnp.asarray(zs), jnp.asarray(zt), 2.0))
  want = kd + np.array([numpy_crop_mse(src[i], tgt[i], (2, 3, 4))
                        for i in range(2)])
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_sized_kind_names_the_bad_field():
  with pytest.raises(ValueError, match="stem='kd'"):
    attention_losses.sized_kind("kd", (3,))
  with pytest.raises(ValueError, match="sizes=()"):
    attention_losses.sized_kind("att_mse", ())


def test_the_family_sizes_do_not_fit_a_resnet8_map_on_pairs():
  from ktg_jax.families.ensemble import attention
  m = jnp.ones((1, 4, 7))
  with pytest.raises(ValueError, match="4x7 map"):
    attention.att_mse(m, m)  # (3, 5, 7): the reason for crop_sizes


def test_compression_with_crop_sizes_uses_the_sized_kind():
  spec = classic.compression("resnet8", ["resnet8"] * 2, ["/a", "/b"],
                             attention=True, crop_sizes=(2, 3, 4))
  assert {e.loss for (s, _), e in spec.edges.items() if s != "label"} == {
      "kd_att_mse_crops2-3-4"}
  plain = classic.compression("resnet8", ["resnet8"] * 2, ["/a", "/b"],
                              attention=True)
  assert plain.edges[(1, 0)].loss == "kd_att_mse"
  with pytest.raises(ValueError, match="crop_sizes"):
    classic.compression("resnet8", ["resnet8"] * 2, ["/a", "/b"],
                        crop_sizes=(2,))


def test_table49_config_trains_on_the_teachers_800_pairs_and_reads_test_once():
  n_val = int(round(CONFIG.val_fraction * CONFIG.limit))
  assert (CONFIG.limit - n_val, n_val) == (800, 10_000)
  assert CONFIG.eval_every_epochs == 0 and CONFIG.epochs == 40
  opts = compress.compress_options(CONFIG)
  assert opts == {"refit_on_val": False, "crop_sizes": (2, 3, 4)}
  assert max(opts["crop_sizes"]) <= 4  # a resnet8 map on 14 x 28 is 4 x 7
  assert compress.compress_options(common.load_module(common.config_path(
      "ch4_fashion_mnist.py")).get_config()) == {"refit_on_val": True,
                                                 "crop_sizes": None}


def test_teachers_of_each_seed():
  paths = compress.teacher_paths("/r/independent_m2_seed{seed}", 3, 2)
  assert paths == ["/r/independent_m2_seed3/variables/node0",
                   "/r/independent_m2_seed3/variables/node1"]
  assert compress.teacher_paths("/r/one", 7, 1) == ["/r/one/variables/node0"]


def history(accuracy, conflicts=None, epochs=2):
  h = [{"epoch": e + 1, "accuracy": [math.nan] * len(accuracy)}
       for e in range(epochs - 1)]
  h.append({"epoch": epochs, "accuracy": accuracy})
  if conflicts is not None:
    for m in h:
      m["conflicts"] = conflicts
  return h


def test_record_and_resume_key():
  c = [[0, 0, 0], [0, 0, 2], [0, 2, 0]]
  rec = compress.record("each+pcgrad", 3, 2.0, "test",
                        history([0.5, 0.4, 0.3], c), 12, 2)
  assert rec["key"] == "test/each+pcgrad/T2/seed3"
  assert rec["student"] == 0.5 and rec["teachers"] == [0.4, 0.3]
  assert rec["conflicts"] == [[0, 0, 0], [0, 0, 4], [0, 4, 0]]  # 2 epochs
  assert compress.pair_conflicts(rec["conflicts"]) == 4
  assert rec["steps"] == 24 and "teacher_ensemble" not in rec
  ens = compress.record("ensemble", 0, 2.0, "test",
                        history([0.5, 0.4, 0.3, 0.45]), 12, 2)
  assert ens["teacher_ensemble"] == 0.45


def test_table_has_welch_p_against_the_ensembled_row():
  recs = []
  ens, each = [0.50, 0.52, 0.51], [0.53, 0.54, 0.56]
  for s, (a, b) in enumerate(zip(ens, each)):
    recs.append(compress.record("ensemble", s, 2.0, "test",
                                history([a, 0.4, 0.4, 0.47]), 12, 2))
    recs.append(compress.record("each", s, 2.0, "test",
                                history([b, 0.4, 0.4]), 12, 2))
  recs.append(compress.record("each", 0, 5.0, "val", history([0.6, 0.4, 0.4]),
                              12, 2))
  text = compress.table(recs)
  x, y = 100 * np.array(each), 100 * np.array(ens)
  vx, vy = x.var(ddof=1) / 3, y.var(ddof=1) / 3
  t = (x.mean() - y.mean()) / np.sqrt(vx + vy)
  dof = (vx + vy) ** 2 / (vx ** 2 / 2 + vy ** 2 / 2)
  from scipy import stats as sps
  p = 2 * sps.t.sf(abs(t), dof)
  d = x - y  # paired by seed: +3, +2, +5
  assert (f"| student: each | 0,1,2 | 53.00 / 54.00 / 56.00 | 54.33 ± 1.53 | "
          f"{p:.4f} | +{d.mean():.2f} ± {d.std(ddof=1):.2f} (3 of 3) |") in text
  assert "| student: ensemble | 0,1,2 | 50.00 / 52.00 / 51.00 | 51.00 ± 1.00 | — | — |" in text
  assert ("| the teachers' ensemble (no student) | 0,1,2 | 47.00 / 47.00 / "
          "47.00 | 47.00 ± 0.00 |") in text
  assert "-4.00 ± 1.00 (0 of 3) | — | — |" in text
  assert "T=5 60.00" in text


def test_attention_pictures_draw_the_crops_the_edges_use():
  attention_maps = import_script("attention_maps")
  assert attention_maps.crop_sizes("resnet8") == (3, 5, 7)
  assert attention_maps.crop_sizes("abn_resnet8") == (3, 7, 11)
  assert attention_maps.crop_sizes("resnet8", ["2", "3", "4"]) == (2, 3, 4)
