# Two entry points on a fresh clone: `make demo` and `make test`.
# The demo needs no torch (scoring counts with numpy). The tests do (the losses, the torch scoring
# backend), and pin the build this project's machines keep on disk, a CPU build.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
OUT    ?= out

.PHONY: install demo train-demo test lint sanitize clean

SOURCES := pyproject.toml Makefile polymask/raster/_scanfill.c polymask/io/_pngrows.c \
	tests/requirements-peers.txt

$(VENV)/.installed-demo: $(SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[fast,plot,medical]"
	touch $@

$(VENV)/.installed: $(SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,torch,dask,fast,plot,medical]"
	$(BIN)/python -m pip install -q --no-deps -r tests/requirements-peers.txt
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed-demo
	@echo "== validate the bundled LabelMe annotations"
	$(BIN)/polymask validate examples/labelme
	@echo "== rasterize them into class-index masks, instance masks and overlays"
	$(BIN)/polymask rasterize examples/labelme -o $(OUT)/masks --labels examples/labelme/labels.txt \
		--instances $(OUT)/instances --overlay $(OUT)/overlays
	@echo "== a rerun skips what is up to date; --check confirms the masks match the annotations"
	$(BIN)/polymask rasterize examples/labelme -o $(OUT)/masks --labels examples/labelme/labels.txt
	$(BIN)/polymask rasterize examples/labelme -o $(OUT)/masks --labels examples/labelme/labels.txt --check
	@echo "== class balance of the masks, and what to train with"
	$(BIN)/polymask stats $(OUT)/masks --plot $(OUT)/class_frequencies.png --json $(OUT)/stats.json \
		--html $(OUT)/stats.html
	@echo "== Dice of a pretend model's predictions against those masks, gated at 0.80 mean Dice"
	$(BIN)/polymask score examples/predictions $(OUT)/masks --fail-under 0.80 \
		--json $(OUT)/score.json --markdown $(OUT)/score.md --errors $(OUT)/errors --images examples/labelme \
		--confusion $(OUT)/confusion.png --normalize --html $(OUT)/score.html
	@echo "== the same predictions against the annotations themselves: drawn on the fly, same numbers"
	$(BIN)/polymask score examples/predictions examples/labelme --labels examples/labelme/labels.txt \
		--fail-under 0.80 --output-format json | $(BIN)/python -c \
		"import json, sys; print('mean Dice', json.load(sys.stdin)['summary']['global']['dice'])"
	@echo "== a model's COCO results file against main's: the regression gate catches the cars (exit 1)"
	$(BIN)/polymask score examples/coco/results.json examples/coco/instances.json \
		--baseline examples/coco/results_main.json --fail-on-regression 0.02 \
		--markdown $(OUT)/regression.md; test $$? -eq 1
	@echo "== CT-like label volumes (NIfTI, 0.8 x 0.8 x 2.5 mm voxels): Dice and surface distances in mm"
	$(BIN)/polymask score examples/volumes/pred examples/volumes/gt --surface --tolerance 2 \
		--fail-under 0.6
	@echo "== outputs in $(OUT)/: masks/ (class ids, VOC palette), instances/ (16-bit), overlays/ (JPEG),"
	@echo "   stats and score reports, errors/ (TP green, FP magenta, FN blue, wrong class amber on"
	@echo "   the worst images), stats.html and score.html (open them in a browser),"
	@echo "   confusion.png (where each class's pixels went), regression.md (deltas against main)"
	@find $(OUT) -type f | sort

# A tiny model trained on the bundled examples straight from their polygons (polymask.training),
# then scored by polymask score with a Dice gate; under a minute on two CPU cores.
train-demo: $(VENV)/.installed
	$(BIN)/python examples/train.py --out $(OUT)/train

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check polymask tests benchmarks examples
	$(BIN)/ruff format --check polymask tests benchmarks examples

# The C extensions' tests under AddressSanitizer and UBSan. The sanitized modules are built in a
# temporary copy of the package and tests, never in the source tree (whose normal build stays as
# it is), and pytest runs there, with the ASan runtime preloaded since python itself is not
# instrumented. The report header must name the copy's modules: proof that they were tested.
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

sanitize: install
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp -r polymask tests pyproject.toml README.md "$$tmp"/; \
	find "$$tmp" -name '*.so' -delete; \
	cd "$$tmp"; \
	CC=gcc CFLAGS="$(SANITIZE) -g -O1" LDFLAGS="$(SANITIZE)" $(CURDIR)/$(BIN)/python \
		-c "from setuptools import setup; setup()" -q build_ext --inplace >build.log 2>&1 \
		|| { cat build.log; exit 1; }; \
	status=0; \
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0 \
		POLYMASK_REQUIRE_EXTENSIONS=1 $(CURDIR)/$(BIN)/python -m pytest -p no:cacheprovider \
		tests/test_png.py tests/test_scanfill.py >test.log 2>&1 || status=$$?; \
	cat test.log; \
	test $$status -eq 0; \
	for module in raster/_scanfill io/_pngrows; do \
		grep -q "^polymask\.$${module%%/*}\.$${module#*/}: $$tmp/polymask/$$module\." test.log \
			|| { echo "sanitize: $$module was not loaded from the sanitized build"; exit 1; }; \
	done; \
	echo "sanitize: both extensions built with ASan+UBSan in $$tmp; their tests passed"

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
