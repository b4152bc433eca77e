# Set-up and the two everyday jobs. `make demo` and `make test` create the virtual environment
# on first use.
#
# torch is installed first, on its own: TORCH_SPEC pins the build that suits the machine
# (torch==2.13.0 resolves to a local CPU wheel on the project's build machines and to the regular
# PyPI build elsewhere); qgen itself only asks for torch>=2.4, so pip keeps what is installed.
# CPU-only elsewhere: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu

PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
EXAMPLE     ?= examples/wearable_quantunet.pt
PART        ?= xc7z020
PROJECT     ?= projects/wearable_quantunet

BIN := $(VENV)/bin

.PHONY: demo test install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# The main job on the shipped example: checkpoint -> HLS project -> bit-exact C-simulation ->
# cycle-level timing model (FIFOs, deadlocks, frame rate) -> resources.
demo: install
	$(BIN)/qgen eval --model $(EXAMPLE)
	$(BIN)/qgen hls --model $(EXAMPLE) --part $(PART) --out $(PROJECT) --force
	$(BIN)/qgen csim $(PROJECT)
	$(BIN)/qgen simulate $(PROJECT)
	$(BIN)/qgen report-resources $(PROJECT)

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) projects/*/ .pytest_cache
