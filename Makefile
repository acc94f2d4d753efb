# The two commands of the README. Each bootstraps what is missing, then does its job.
.PHONY: setup demo test unit lit fuzz bench bench-video bench-spirv bench-prune clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	.venv/bin/fretsaw demo

test: setup
	.venv/bin/python -m pytest -q -n 2 tests/unit
	.venv/bin/lit -sv tests/lit

unit: setup
	.venv/bin/python -m pytest -q tests/unit

lit: setup
	.venv/bin/lit -v tests/lit

# The differential fuzzer's long profile (tests/unit/test_fuzz.py): FRETSAW_FUZZ_EXAMPLES random
# graphs (default 500) from a random seed, printed first; FRETSAW_FUZZ_SEED=n replays a run.
fuzz: setup
	@seed=$${FRETSAW_FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; echo "fuzz seed: $$seed"; \
	FRETSAW_FUZZ_EXAMPLES=$${FRETSAW_FUZZ_EXAMPLES:-500} .venv/bin/python -m pytest -q tests/unit/test_fuzz.py \
		--hypothesis-seed=$$seed --hypothesis-show-statistics

# Benchmarks (not tests): installs the dense peers, then prints the tables (README: Benchmark; history: bench/RESULTS.md).
bench: setup
	.venv/bin/pip install -q -r bench/requirements.txt
	.venv/bin/python bench/conv_layers.py
	.venv/bin/python bench/networks.py --json bench/networks.json --chart bench/networks.png
	.venv/bin/python bench/networks.py --scheme kgs --json bench/networks_kgs.json

# The video networks (3-D convs, KGS and Vanilla) beside the dense peers (README: Benchmark).
bench-video: setup
	.venv/bin/pip install -q -r bench/requirements.txt
	.venv/bin/python bench/video.py --json bench/video.json --chart bench/video.png

# The SPIR-V target on this machine's Vulkan device: pruned vs dense vs IREE vulkan-spirv (README: Benchmark).
bench-spirv: setup
	.venv/bin/pip install -q -r bench/requirements.txt
	.venv/bin/python bench/vulkan_loads.py
	cd bench && ../.venv/bin/python spirv.py --layers --json spirv.json

# The pruning methods compared on scikit-learn's bundled digits (results: bench/RESULTS.md).
bench-prune: setup
	.venv/bin/pip install -q -r bench/requirements.txt
	.venv/bin/python bench/prune_digits.py --json bench/prune_digits.json

clean:
	rm -rf .venv build *.egg-info
