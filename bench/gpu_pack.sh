#!/usr/bin/env bash
# Packs what bench/gpu.sh needs on the lent GPU machine into .gpu/ (ignored by git through .git/info/exclude), run
# HERE, before the device call: that machine fetches nothing (no pip index), `../shared` does not travel, and the
# working tree that travels is capped at 64 MiB. Then: device `run` with carry [".gpu"] and `bash bench/gpu.sh`.
#   - wheels the device image lacks (its python3 has torch, transformers, accelerate, scikit-learn, scipy,
#     matplotlib, tokenizers, tensorboard, pandas, pyarrow...; see the device tool's KINDS.md): datasets and its
#     dill / multiprocess, seqeval (sdist only: built here into a pure-Python wheel);
#   - MiniLM (all-MiniLM-L6-v2) with its weights stored in float16: the float32 file alone is 91 MB, over the cap.
#     lowdata's load_encoder upcasts it to float32 on load and training runs as usual (bf16 autocast on GPU); the
#     weights differ from the CPU runs' by float16 rounding (checked below: embeddings agree to a cosine
#     of >= 0.9999);
#   - the AG News and SST-2 files the GPU script reads. WordNet (35 MB) does not fit, so on the device FixMatch and
#     UDA use lexicon-free augmenters (bench/gpu.sh says which).
# Not yet tried on a device (none was lent to the session that wrote it).
# A CPU stand-in for the device ran it end to end (session 12: a clone with .gpu/, python3 = a Python 3.12 venv
# with transformers 5.17 as on the device image, a fake nvidia-smi): the wheels install into /tmp/site, the float16
# MiniLM loads, each step starts and is cut at its limit (on 2 CPU cores none finishes; on the GPU each should end
# well inside it).
set -euo pipefail
cd "$(dirname "$0")/.."
P=${P:-.venv/bin/python}
D=.gpu
DATA=${LOWDATA_DATA:-$(pwd)/../shared/data}
rm -rf "$D" && mkdir -p "$D/wheels" "$D/data/agnews" "$D/data/sst2" "$D/minilm"
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
PLAT="--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
# shellcheck disable=SC2086
$P -m pip download -q --no-deps $PLAT -d "$D/wheels" "datasets==$($P -c 'import datasets; print(datasets.__version__)')" \
  "dill==$($P -c 'import dill; print(dill.__version__)')" \
  "multiprocess==$($P -c 'import multiprocess; print(multiprocess.__version__)')"
$P -m pip wheel -q --no-deps -w "$D/wheels" seqeval==1.2.2
cp "$DATA"/agnews/{dev,test}.tsv "$D/data/agnews/"
cp "$DATA"/sst2/stsa.binary.{train,dev,test} "$D/data/sst2/"
$P - "$D/minilm" <<'EOF'
import shutil, sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from lowdata.backbone import resolve
from lowdata.ssl.graph import embed

src, dst = Path(resolve("minilm")), Path(sys.argv[1])
for f in src.iterdir():
    if f.is_file() and f.name != "model.safetensors":
        shutil.copy(f, dst / f.name)
save_file({k: v.half().contiguous() for k, v in load_file(src / "model.safetensors").items()},
          str(dst / "model.safetensors"), metadata={"format": "pt"})
texts = ["Oil prices rise as supply worries grow.", "The team won the cup final on penalties.",
         "A new chip doubles battery life in phones.", "it 's a charming and often affecting journey ."]
a, b = embed(texts, str(src), max_length=64), embed(texts, str(dst), max_length=64)
cos = (a * b).sum(1)
print(f"float16 MiniLM: embeddings' cosine to float32 min {cos.min():.6f}")
assert cos.min() >= 0.9999, cos
from lowdata.backbone import load_encoder
assert load_encoder(str(dst))[0].embeddings.word_embeddings.weight.dtype == torch.float32  # upcast on load
EOF
size=$(du -sk "$D" | cut -f1)
tree=$(git ls-files -z | xargs -0 du -ck | tail -1 | cut -f1)
echo ".gpu: $((size / 1024)) MiB; with the tracked files: $(((size + tree) / 1024)) MiB (cap 64 MiB)"
test $((size + tree)) -lt $((62 * 1024)) || { echo "too big to travel" >&2; exit 1; }
