# kube-proxy-ts — every target does its own set-up (Debian packages when missing, npm ci).
.PHONY: all build demo test test-host test-ipvs bench bench-quick image image-test clean

all: build

build:
	bash scripts/setup.sh
	npm run --silent build

# The main job on the embedded default: a demo in network namespaces from examples/manifests.
demo: build
	node dist/tools/demo.js $(DEMO_ARGS)

# Every test: unit, integration (test API server, kubectl), traffic in namespaces, IPVS in a guest.
test:
	bash scripts/test.sh

test-host:
	bash scripts/test.sh --no-ipvs

test-ipvs: build
	bash scripts/test-ipvs.sh

# The container image, built with podman from Debian packages (no registry needed): docs/deploy.md.
image:
	bash scripts/image.sh

# The image as a DaemonSet runs it: in-cluster config against the test API server, traffic, --cleanup.
image-test: build
	bash scripts/image-test.sh

bench: build
	node dist/bench/run.js $(BENCH_ARGS)

bench-quick: build
	node dist/bench/run.js --quick

clean:
	rm -rf dist
