# Two entry points on a fresh clone: `make demo` and `make test`.
# torch is pinned to the CPU build here (and only here) so no install ever pulls a CUDA build.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
OUT    ?= out

.PHONY: install demo test lint clean

$(VENV)/.installed: pyproject.toml Makefile polymask/raster/_scanfill.c polymask/io/_pngrows.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,torch,dask,fast]"
	touch $@

install: $(VENV)/.installed

demo: install
	@echo "== validate the bundled LabelMe annotations"
	$(BIN)/polymask validate examples/labelme
	@echo "== rasterize them into class-index masks, instance masks and overlays"
	$(BIN)/polymask rasterize examples/labelme -o $(OUT)/masks --labels examples/labelme/labels.txt \
		--instances $(OUT)/instances --overlay $(OUT)/overlays
	@echo "== a rerun skips what is up to date; --check confirms the masks match the annotations"
	$(BIN)/polymask rasterize examples/labelme -o $(OUT)/masks --labels examples/labelme/labels.txt
	$(BIN)/polymask rasterize examples/labelme -o $(OUT)/masks --labels examples/labelme/labels.txt --check
	@echo "== class balance of the masks, and what to train with"
	$(BIN)/polymask stats $(OUT)/masks --plot $(OUT)/class_frequencies.png --json $(OUT)/stats.json
	@echo "== Dice of a pretend model's predictions against those masks, gated at 0.80 mean Dice"
	$(BIN)/polymask score examples/predictions $(OUT)/masks --fail-under 0.80 \
		--json $(OUT)/score.json --markdown $(OUT)/score.md --errors $(OUT)/errors --images examples/labelme
	@echo "== outputs in $(OUT)/: masks/ (class ids, VOC palette), instances/ (16-bit), overlays/ (JPEG),"
	@echo "   stats and score reports, errors/ (TP green, FP red, FN blue on the worst images)"
	@find $(OUT) -type f | sort

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check polymask tests benchmarks examples
	$(BIN)/ruff format --check polymask tests benchmarks examples

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
