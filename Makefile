# scorelens: `make demo` and `make test` each do all of their own set-up.
SHELL := /bin/bash
GO ?= go
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/scorelens
# The ONNX Runtime library: a user's own build (ORT_LIB=...) or the pinned one in .ort/.
ORT_LIB ?= $(CURDIR)/.ort/lib/libonnxruntime.so.1.24.1
export ORT_LIB

.PHONY: all deps build test demo bench fuzz clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/scorelens

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 14m ./...

demo: build
	$(BIN) demo --out demo

bench: deps
	@scripts/bench.sh

# A longer fuzzing session of the FITS reader (the seeds alone run in `make test`).
fuzz: deps
	$(GO) test -run XXX -fuzz FuzzReadAll -fuzztime 2m ./lens/fitsimg

clean:
	rm -rf bin demo
