# The two commands of the README. Each bootstraps what is missing, then does its job.
.PHONY: setup demo test unit lit bench bench-prune clean

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

# Benchmarks (not tests): installs the dense peers, then prints the README's Status tables.
bench: setup
	.venv/bin/pip install -q -r bench/requirements.txt
	.venv/bin/python bench/conv_layers.py
	.venv/bin/python bench/networks.py --json bench/networks.json --chart bench/networks.png

# The pruning methods compared on scikit-learn's bundled digits (README's Pruning table).
bench-prune: setup
	.venv/bin/pip install -q -r bench/requirements.txt
	.venv/bin/python bench/prune_digits.py --json bench/prune_digits.json

clean:
	rm -rf .venv build *.egg-info
