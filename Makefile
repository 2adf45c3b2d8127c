# faaskit front door. As root on a fresh Debian 12 machine:
#   make demo     build, then run the main job
#   make test     install what is missing, build, run every test
#
# Other targets: make (build), make bench, make test-asan,
# make install PREFIX=/usr/local, make clean.

BUILD     ?= build
ASAN_BUILD ?= build-asan
PREFIX    ?= /usr/local
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
# CI sets CI=true: warnings are errors there.
WERROR    ?= $(if $(filter true 1,$(CI)),ON,OFF)
CMAKE_FLAGS ?=

.PHONY: all build deps test test-asan demo bench install clean

all: build

deps:
	@scripts/install-deps.sh build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DFAAS_WERROR=$(WERROR) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test:
	@scripts/install-deps.sh test
	cmake -S . -B $(BUILD) -DFAAS_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything but
# faas-init (built against musl, which has no sanitizer runtime).
test-asan:
	@scripts/install-deps.sh test
	cmake -S . -B $(ASAN_BUILD) -DFAAS_SANITIZE=ON -DFAAS_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

demo:
	@scripts/install-deps.sh demo
	cmake -S . -B $(BUILD) -DFAAS_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	examples/demo.sh $(BUILD)

bench:
	@scripts/install-deps.sh bench
	cmake -S . -B $(BUILD) -DFAAS_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	$(BUILD)/bin/faas-bench run startup --iterations 1000 --warmup 50 --table
	$(BUILD)/bin/faas-bench run init --iterations 1000 --warmup 100 --table
	$(BUILD)/bin/faas-bench run init --iterations 1000 --warmup 100 --pidns --table
	$(BUILD)/bin/faas-bench run fork --table
	$(BUILD)/bin/faas-bench run netns --table
	$(BUILD)/bin/faas-bench run cold --iterations 300 --warmup 10 --table
	$(BUILD)/bin/faas-bench run warm --table
	$(BUILD)/bin/faas-bench run gateway --table
	$(BUILD)/bin/faas-bench run mem --table

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
