# genre_lightning — everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=
# make report: the real GTZAN clips beside the repository, 5 folds (each fold tested once).
SAMPLE ?= $(abspath ../shared/gtzan-sample)
# Training overrides of every run of the report: a Hydra list, one quoted item each.
REPORT_OVERRIDES ?= "data.root=$(SAMPLE)","data.cache_dir=$(abspath outputs/cache)", \
	"data.split=kfold","data.num_folds=5","data.val_fraction=0.2", \
	"callbacks.rich_progress_bar=null","trainer.enable_progress_bar=false"
REPORT = $(PY) -m genre_lightning.report out=reports/gtzan-sample-cv $(ARGS)
# make report-deals: the same folds dealt three more ways (make report's is data.split_seed=42).
SPLIT_SEEDS = data.split_seed=1,2,3
FOLDS = data.fold=0,1,2,3,4

.PHONY: install demo train test lint tensorboard clean bench bench-gpu report report-deals \
	report-linear report-networks report-finetune

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the package (editable) with its dev extras

demo: install ## train ResNet on the built-in synthetic genres (CPU, ~2 min)
	$(PY) -m genre_lightning experiment=demo $(ARGS)

train: install ## train with the default config (GTZAN under data/gtzan); make train ARGS="model=alexnet"
	$(PY) -m genre_lightning $(ARGS)

test: install ## the test suite (CPU)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff + mypy
	$(PY) -m ruff check genre_lightning tests benchmarks scripts
	$(PY) -m ruff format --check genre_lightning tests benchmarks scripts
	$(PY) -m mypy

tensorboard: install ## curves of every run under outputs/
	$(VENV)/bin/tensorboard --logdir outputs

clean: ## remove run outputs and tool caches (keeps .venv and data/)
	find outputs -mindepth 1 -not -name .gitkeep -delete
	rm -rf .pytest_cache .mypy_cache .ruff_cache lightning_logs

bench: install ## CPU benchmarks (mel vs librosa, Lightning vs plain loop, data wait, features table, decode cache, memory) + results.json
	$(PY) -m benchmarks.run $(ARGS)

bench-gpu: install ## GPU throughput (ResNet/AlexNet, fp32 vs bf16, DataLoader vs on-device) + results-gpu.json
	$(PY) -m benchmarks.run --only gpu --out benchmarks/results-gpu.json $(ARGS)

report: report-linear report-networks report-finetune ## paper and improved ResNet, MFCC baseline, musicnn probe and fine-tune: 5-fold CV on the GTZAN sample

# The three parts of make report, each runnable alone; each adds its rows to the same report.
report-linear: install ## make report's MFCC baseline and musicnn probe (weight decay chosen on validation, refitted)
	# The linear models, fitted to convergence: weight decay chosen on validation, then each
	# fold refitted on its 40 training + validation tracks with that value (a second row).
	$(REPORT) 'recipes=[mfcc_baseline,musicnn_probe]' select=optimizer.weight_decay refit=true \
		'sweep="$(FOLDS) optimizer.weight_decay=1e-2,1e-1,1"' \
		'overrides=[$(strip $(REPORT_OVERRIDES))]'

report-networks: install ## make report's paper and improved ResNet, trained from scratch
	# Batch 16 and 40 epochs, so that they fit in the time on 2 CPU cores.
	$(REPORT) 'recipes=[seed_resnet,improved_resnet]' 'sweep="$(FOLDS)"' \
		'overrides=[$(strip $(REPORT_OVERRIDES)),"data.batch_size=16","trainer.max_epochs=40"]'

report-finetune: install ## make report's fine-tuned musicnn
	$(REPORT) 'recipes=[musicnn_finetune]' 'sweep="$(FOLDS)"' \
		'overrides=[$(strip $(REPORT_OVERRIDES))]'

report-deals: install ## MFCC baseline and musicnn probe over three more deals of the 5 folds: how far make report's one deal carries
	# Each recipe as its config defines it (both chose weight decay 1e-2 in make report).
	$(PY) -m genre_lightning.report out=reports/gtzan-sample-deals $(ARGS) \
		'recipes=[mfcc_baseline,musicnn_probe]' 'sweep="$(SPLIT_SEEDS) $(FOLDS)"' \
		'overrides=[$(strip $(REPORT_OVERRIDES))]'
