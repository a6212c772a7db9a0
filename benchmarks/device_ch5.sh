#!/usr/bin/env bash
# Issue 25 item 2 in one device call: a ch.5 structure search on the validation
# split, then its found graph's 5 seeds on test (read once), under the same
# regime as the baselines of benchmarks/results/semi_rows_h200/.
#
#   bash benchmarks/device_ch5.sh fixmatch_space [--smoke] [--print]   # Table 5.3's space, 60 graphs
#   bash benchmarks/device_ch5.sh diverse_space  [--smoke] [--print]   # Table 5.4's, 3 nodes, >= 50 graphs
#
# On the device (docs/gpu.md "Carrying the search to a device"): build the carry
# here with `bash benchmarks/device_pack.sh --search`, then run with carry
# [".whl", "data"]:  bash .whl/install.sh && export PYTHONPATH=/tmp/site:$PWD &&
# bash benchmarks/device_ch5.sh fixmatch_space
# $OUT gets two files (the tool returns at most 8, two folders deep): the log
# and <part>.tar.gz (search.json, trials.csv, events.jsonl, best_graph.json /
# .png, scores.png, the rows' results.jsonl / results.md; not Ray's tune/).
# --smoke: digits, a few iterations, 3 trials, 2 seeds: the same pipeline in
# about two minutes on a CPU (OUT defaults to /tmp/device_ch5_out). --print:
# only print the two commands (tests/test_device_ch5.py checks their flags).
# SEARCH_TIMEOUT / ROWS_TIMEOUT (seconds) bound the two steps; search.py keeps
# its finished trials, so rerunning the same line resumes a stopped search.
set -uo pipefail
cd "$(dirname "$0")/.."
PART=${1:-}
SMOKE=0 PRINT=0
for arg in "${@:2}"; do
  case $arg in
    --smoke) SMOKE=1 ;;
    --print) PRINT=1 ;;
    *) echo "device_ch5.sh: argument '$arg'; allowed: --smoke, --print" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-/tmp/device_ch5_out}
WORK=${WORK:-/tmp/device_ch5}
PY=${PYTHON:-python3}
case $PART in
  fixmatch_space)
    CONFIG=experiments/configs/semi_regime.py
    SEARCH=(--space=ch5_fixmatch --target_model=small_cnn --protocol=random
            --num_trials=60 --pack_size=20 --workers=3 --gpus_per_trial=0.33)
    METHODS=ktg ;;
  diverse_space)
    CONFIG=experiments/configs/semi_diverse_regime.py
    # ASHA rungs at 5, 10, 20, 40 evaluations of 500 iterations: at 2,500
    # iterations FixMatch's EMA model leads supervised training by 6-8 points
    # on validation while both students still swing by up to +-6 between
    # evaluations (benchmarks/results/semi_pilot_20k/).
    SEARCH=(--space=ch5_diverse --num_nodes=3 --target_model=small_cnn
            --aux_models=small_cnn,resnet8 --protocol=asha --grace_period=5
            --num_trials=50 --workers=4 --gpus_per_trial=0.25)
    METHODS=supervised,mean_teacher,fixmatch,ktg ;;
  *) echo "device_ch5.sh: part '$PART'; allowed: fixmatch_space, diverse_space" >&2
     exit 2 ;;
esac
SEEDS=0,1,2,3,4
OVERRIDES=(--config.labels_per_class=10)
if [ $SMOKE = 1 ]; then
  SEEDS=0,1
  OVERRIDES+=(--config.dataset=digits --config.eval_every=5 --config.epochs=4
              --config.eval_batch_size=500)
  # three graphs, one worker, no GPU, ASHA from the first evaluation
  SEARCH=("${SEARCH[@]/--num_trials=*/--num_trials=3}")
  SEARCH=("${SEARCH[@]/--pack_size=*/--pack_size=3}")
  SEARCH=("${SEARCH[@]/--workers=*/--workers=1}")
  SEARCH=("${SEARCH[@]/--gpus_per_trial=*/--gpus_per_trial=0}")
  SEARCH=("${SEARCH[@]/--grace_period=*/--grace_period=1}")
fi
SEARCH_CMD=($PY experiments/search.py --config="$CONFIG" "${OVERRIDES[@]}"
            "${SEARCH[@]}" --workdir="$WORK/search")
ROWS_CMD=($PY experiments/semi.py --config="$CONFIG" "${OVERRIDES[@]}"
          --per_class=10 --seeds=$SEEDS --methods=$METHODS
          --search="$WORK/search/best_graph.json" --workdir="$WORK/rows")
if [ $PRINT = 1 ]; then
  echo "${SEARCH_CMD[*]}"
  echo "${ROWS_CMD[*]}"
  exit 0
fi
mkdir -p "$OUT" "$WORK"
LOG="$OUT/${PART}_log.txt"
export PYTHONUNBUFFERED=1
{
  echo "# $(date -u +%FT%TZ) device_ch5.sh $PART smoke=$SMOKE at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU"
  t0=$SECONDS
  timeout "${SEARCH_TIMEOUT:-360}" "${SEARCH_CMD[@]}"
  echo "# search: exit $? after $((SECONDS - t0)) s"
  t1=$SECONDS
  if [ -f "$WORK/search/best_graph.json" ]; then
    timeout "${ROWS_TIMEOUT:-300}" "${ROWS_CMD[@]}"
    echo "# rows: exit $? after $((SECONDS - t1)) s"
  else
    echo "# rows: not run (no best_graph.json: the search did not finish)"
  fi
} 2>&1 | grep -v -e "^I[0-9]\{4\} " -e "^W[0-9]\{4\} " | tee "$LOG"
tar czf "$OUT/$PART.tar.gz" -C "$WORK" --exclude=tune --exclude=jax_cache \
    --exclude=checkpoints --exclude='*.msgpack' search rows 2>/dev/null
ls -la "$OUT"
