# ALB build. `make` builds build/alb (optimised, with debug info);
# `make test` installs what is missing, builds an ASan+UBSan variant and runs
# every test; `make run` starts ALB on the example with a demo backend.

CC ?= cc
CLANG ?= clang
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Isrc -pthread \
                 $(shell pkg-config --cflags jansson libpcre2-8 yaml-0.1 zlib openssl libnghttp2 libcurl 2>/dev/null)
LDLIBS := $(shell pkg-config --libs jansson libpcre2-8 yaml-0.1 zlib openssl libnghttp2 libcurl 2>/dev/null || echo -ljansson -lpcre2-8 -lyaml -lz -lssl -lcrypto -lnghttp2 -lcurl) -pthread

OPT_CFLAGS := $(CFLAGS_COMMON) -O2
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ASAN_CFLAGS := $(CFLAGS_COMMON) -O1 $(SAN_FLAGS)
# ThreadSanitizer: the cluster threads (informers, status) and the control thread share a store
TSAN_CFLAGS := $(CFLAGS_COMMON) -O1 -fsanitize=thread

SRCS := $(shell find src -name '*.c' | sort)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
HDRS := $(shell find src -name '*.h')

OPT_OBJS := $(LIB_SRCS:src/%.c=build/obj/%.o)
ASAN_OBJS := $(LIB_SRCS:src/%.c=build/asan/obj/%.o)
TSAN_OBJS := $(LIB_SRCS:src/%.c=build/tsan/obj/%.o)

UNIT_SRCS := $(shell find tests/unit -name '*_test.c' | sort)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/tests/%)

FUZZ_SRCS := $(wildcard fuzz/*_fuzz.c)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 30

PYTHON := /usr/bin/python3

.PHONY: all deps test-deps bench-deps test unit integration tsan fuzz fuzz-build run bench bench-route clean asan check-layers golden

all: build/alb

deps:
	@tools/deps.sh build

test-deps:
	@tools/deps.sh test

bench-deps:
	@tools/deps.sh bench

build/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(OPT_CFLAGS) -c $< -o $@

build/asan/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c $< -o $@

build/tsan/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TSAN_CFLAGS) -c $< -o $@

build/libalb.a: $(OPT_OBJS)
	ar rcs $@ $^

build/asan/libalb.a: $(ASAN_OBJS)
	ar rcs $@ $^

build/alb: src/main.c build/libalb.a
	$(CC) $(OPT_CFLAGS) $< build/libalb.a $(LDLIBS) -o $@

build/asan/alb: src/main.c build/asan/libalb.a
	$(CC) $(ASAN_CFLAGS) $< build/asan/libalb.a $(LDLIBS) -o $@

asan: build/asan/alb

build/tsan/alb: src/main.c $(TSAN_OBJS)
	$(CC) $(TSAN_CFLAGS) $< $(TSAN_OBJS) $(LDLIBS) -o $@

# The whole integration suite again against the ThreadSanitizer build (workers,
# the control thread, informers, status, state writer and resolver threads);
# a report fails the test that started that ALB. About as long as the cluster
# tests alone, which dominate it.
tsan: build/tsan/alb build/alb
	ALB_BIN=$(CURDIR)/build/tsan/alb ALB_OPT_BIN=$(CURDIR)/build/alb TSAN_OPTIONS=halt_on_error=0 \
	  $(PYTHON) -m pytest -q tests/integration

build/asan/tests/%: tests/unit/%.c tests/unit/test.h build/asan/libalb.a
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -Itests/unit $< build/asan/libalb.a $(LDLIBS) -o $@

# Each fuzz target links the parsers of outside input and what they feed.
FUZZ_LIB_SRCS := src/http/h1.c src/http/path.c src/config/config.c src/config/publish.c src/config/regex.c src/core/addr.c \
                 src/core/loop.c src/core/timer.c src/core/clock.c src/core/base64.c src/proxy/gzip.c src/tls/tls.c \
                 src/route/route.c src/source/yaml.c src/source/files.c src/source/watch.c src/translate/translate.c \
                 src/translate/certs.c

build/fuzz/%: fuzz/%.c $(LIB_SRCS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined $< \
	  $(FUZZ_LIB_SRCS) $(LDLIBS) -o $@

fuzz-build: $(FUZZ_BINS)

# Each target runs FUZZ_SECONDS on its committed corpus (copied, so new
# inputs do not dirty the tree) plus the crashers kept in fuzz/regression/.
fuzz: fuzz-build
	@for f in $(FUZZ_BINS); do \
	  name=$$(basename $$f); dir=build/fuzz/corpus-$$name; rm -rf $$dir; mkdir -p $$dir; \
	  cp fuzz/corpus/$${name%_fuzz}/* $$dir/ 2>/dev/null || true; \
	  if ls fuzz/regression/$${name%_fuzz}/* >/dev/null 2>&1; then $$f fuzz/regression/$${name%_fuzz}/* || exit 1; fi; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 -artifact_prefix=build/fuzz/ $$dir 2>build/fuzz/$$name.log \
	    || { tail -40 build/fuzz/$$name.log; exit 1; }; \
	  grep -E '^Done|DONE' build/fuzz/$$name.log | tail -1; \
	done

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: build/asan/alb build/alb
	ALB_BIN=$(CURDIR)/build/asan/alb ALB_OPT_BIN=$(CURDIR)/build/alb $(PYTHON) -m pytest -q tests/integration

# Regenerates tests/golden/*/expected.{json,diag} from the current translator.
golden: build/alb
	ALB_BIN=$(CURDIR)/build/alb ALB_GOLDEN_UPDATE=1 $(PYTHON) -m pytest -q tests/integration/test_golden.py
	@git --no-pager diff --stat -- tests/golden || true

check-layers:
	@$(PYTHON) tools/check_layers.py

test: test-deps
	$(MAKE) check-layers
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) tsan
	$(MAKE) fuzz

run: deps build/alb
	@tools/run-demo.sh

bench: bench-deps build/alb
	@$(PYTHON) bench/peers.py

build/route_bench: bench/route_bench.c build/libalb.a
	$(CC) $(OPT_CFLAGS) $< build/libalb.a $(LDLIBS) -o $@

# Route matching and compiling at 10 to 100k rules (issue: live configuration)
bench-route: build/route_bench
	@build/route_bench

clean:
	rm -rf build
