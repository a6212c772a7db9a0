#!/usr/bin/env bash
# What each speed setting buys: the 2-node ResNet-20 DML step (batch 64,
# 32x32), ktg_jax vs torch eager A/B interleaved in one process per setting.
# Usage: bash benchmarks/flag_sweep.sh [outdir]   (about 20 min on 2 cores)
set -u
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/sweep}
mkdir -p "$OUT"
BASE="--nodes 2 --models resnet20,resnet20 --no_floor --steps 2 --rounds 3"
run() {  # name, extra args...
  local name=$1; shift
  echo "== $name: $*"
  JAX_PLATFORMS=${JAX_PLATFORMS:-cpu} python benchmarks/step_speed.py $BASE "$@" \
    --out "$OUT/$name.json" 2>&1 | grep -E '^\{"nodes|failed' | cut -c1-600
}
run default
run threads1 --threads 1
run threads2 --threads 2
run donation --threads 1 --frameworks jax,jax_nodonate,torch
run xnnpack --threads 1 --xla_flags=--xla_cpu_use_xnnpack=true
run xnn_greedy --threads 1 \
  --xla_flags=--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY
run onednn --threads 1 --xla_flags=--xla_cpu_use_onednn=true
run fast_math --threads 1 --xla_flags=--xla_cpu_enable_fast_math=true
run torch_variants --threads 1 --frameworks jax,torch,torch_compile,torch_cl
run dw9 --threads 1 --frameworks jax,jax_dw9,torch
run xnnpack_dw9 --threads 1 --xla_flags=--xla_cpu_use_xnnpack=true \
  --frameworks jax,jax_dw9,torch
run xnnpack_threads2 --threads 2 --xla_flags=--xla_cpu_use_xnnpack=true
