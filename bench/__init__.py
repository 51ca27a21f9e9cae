"""The subrelay benchmark: `python -m bench --help` (or `make bench BENCH_ARGS=...`)."""
