# pyrunc: `sudo make demo` runs a multi-container pod; `sudo make test` runs the whole test suite.
.PHONY: setup setup-test install-service demo test unit bench clean

setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

# The supervisor as a systemd service with static pods from /etc/pyrunc/manifests (contrib/pyrunc.service).
install-service: setup
	bash scripts/install-service.sh

demo: setup
	bash scripts/demo.sh

# The whole suite, as root: unit tests, integration tests on this host's cgroups, and the cgroup v2
# tests inside a QEMU guest when the host has only cgroup v1 (tests/integration/test_cgroup2_guest.py).
test: setup-test
	.venv/bin/python -m pytest -q

unit: setup-test
	.venv/bin/python -m pytest -q tests/unit

bench: setup
	bash bench/setup.sh && .venv/bin/python bench/run.py --out docs/benchmarks.md

clean:
	rm -rf .venv build *.egg-info
