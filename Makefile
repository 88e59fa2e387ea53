# threadtrace - build, deps, test, demo, bench, install.
# `make` builds ./threadtrace; `make demo` and `make test` install missing Debian packages first.

PREFIX ?= /usr/local
BUILD := build
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0)

# CFLAGS, CPPFLAGS and LDFLAGS are the user's (make CFLAGS=-O1 works); ours are apart.
CFLAGS ?= -O2 -g
TT_CPPFLAGS := -D_GNU_SOURCE -DTT_VERSION='"$(VERSION)"' -Ibpf -I$(BUILD) -Iuser
TT_CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	     -Wno-format-truncation
LDLIBS := -lbpf -ldw -lelf -lz -llzma -lcapstone -lstdc++ -liberty
COMPILE = $(CC) $(TT_CPPFLAGS) $(CPPFLAGS) $(TT_CFLAGS) $(CFLAGS)

# A recipe that fails leaves no half-written target (an empty skeleton broke every later build).
.DELETE_ON_ERROR:

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
BPF_HDRS := bpf/threadtrace.h bpf/common.bpf.h bpf/unwind.bpf.h

# Modules that depend on nothing but records: shared by the tool and the unit tests.
CORE_SRCS := user/analysis.c user/analysis_reorder.c user/analysis_stacks.c user/analysis_threads.c \
	     user/analysis_locks.c user/analysis_contention.c \
	     user/analysis_gil.c user/analysis_holds.c user/analysis_hung.c \
	     user/analysis_python.c user/pyobj.c user/lockkind.c user/symdata.c user/report.c user/json.c \
	     user/records.c user/util.c user/recfile.c user/folded.c user/svg.c \
	     user/protobuf.c user/pprof.c user/perfetto.c user/outfile.c user/runtime.c user/stackview.c
LIVE_SRCS := user/collector.c user/command.c user/symbols.c user/procfs.c user/mmaps.c user/unwind.c \
	     user/ustack.c user/cfitab.c user/deadlock.c user/pidns.c user/probesite.c user/pygil.c \
	     user/pydebug.c user/pyframes.c user/pydeadlock.c user/pylive.c user/pynames.c \
	     user/rtdetect.c user/rtops.c user/rtset.c user/rt_cpython.c user/rt_native.c user/libcver.c \
	     user/main.c
CORE_OBJS := $(patsubst user/%.c,$(BUILD)/%.o,$(CORE_SRCS))
LIVE_OBJS := $(patsubst user/%.c,$(BUILD)/%.o,$(LIVE_SRCS))
USER_HDRS := $(wildcard user/*.h) bpf/threadtrace.h

WORKLOADS := $(patsubst tests/workloads/%.c,$(BUILD)/workloads/%,$(wildcard tests/workloads/*.c)) \
	     $(patsubst tests/workloads/%.cpp,$(BUILD)/workloads/%,$(wildcard tests/workloads/*.cpp)) \
	     $(BUILD)/workloads/workload-nofp $(BUILD)/workloads/storm-nofp
# One test_<module>.c per module tested, test_main.c runs them; both unit builds take them all.
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_HDRS := $(wildcard tests/unit/*.h)

.PHONY: all deps demo test unit live bench fuzz install uninstall clean vmlinux format check-format check-deps

all: threadtrace

$(BUILD):
	@mkdir -p $(BUILD) $(BUILD)/workloads

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BUILD)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -Ivmlinux/x86 -Ibpf -Wall \
		-Wno-unused-function -c $< -o $@

$(BUILD)/threadtrace.bpf.o: $(BPF_OBJS)
	$(BPFTOOL) gen object $@ $^

$(BUILD)/threadtrace.skel.h: $(BUILD)/threadtrace.bpf.o
	$(BPFTOOL) gen skeleton $< name threadtrace_bpf > $@

# Every object depends on our headers (a build dir from before -MMD has no .d files) and -MMD
# adds the rest; only the loader includes the skeleton (unit tests need no clang).
$(BUILD)/%.o: user/%.c $(USER_HDRS) | $(BUILD)
	$(COMPILE) -MMD -MP -c $< -o $@

$(BUILD)/collector.o $(BUILD)/rt_cpython.o: $(BUILD)/threadtrace.skel.h

-include $(wildcard $(BUILD)/*.d)

threadtrace: $(CORE_OBJS) $(LIVE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/workloads/%: tests/workloads/%.c Makefile
	@mkdir -p $(@D)
	$(CC) -O2 -g -fno-omit-frame-pointer -fno-optimize-sibling-calls -pthread -Wall $< -o $@

# The same workloads as real code is built: -O2 without frame pointers (CFI stacks needed).
$(BUILD)/workloads/%-nofp: tests/workloads/%.c Makefile
	@mkdir -p $(@D)
	$(CC) -O2 -g -fomit-frame-pointer -pthread -Wall $< -o $@

$(BUILD)/workloads/%: tests/workloads/%.cpp Makefile
	@mkdir -p $(@D)
	$(CXX) -O2 -g -pthread -Wall $< -o $@

UNIT_LIVE_OBJS := $(BUILD)/symbols.o $(BUILD)/procfs.o $(BUILD)/probesite.o $(BUILD)/cfitab.o \
		  $(BUILD)/libcver.o $(BUILD)/pydebug.o $(BUILD)/pylive.o $(BUILD)/pygil.o \
		  $(BUILD)/pyframes.o $(BUILD)/pidns.o $(BUILD)/rtset.o
$(BUILD)/unit-tests: $(UNIT_SRCS) $(UNIT_HDRS) $(CORE_OBJS) $(UNIT_LIVE_OBJS)
	$(COMPILE) $(LDFLAGS) -Itests/unit $(UNIT_SRCS) $(CORE_OBJS) $(UNIT_LIVE_OBJS) \
		-o $@ $(LDLIBS)

# The same unit tests under ASan and UBSan (make test runs both): memory errors and undefined
# behaviour fail the run. Its own directory: the tests look for their binary as "unit-tests".
UNIT_LIB_SRCS := $(CORE_SRCS) user/symbols.c user/procfs.c user/probesite.c user/cfitab.c \
		 user/libcver.c user/pydebug.c user/pylive.c user/pygil.c user/pyframes.c user/pidns.c \
		 user/rtset.c
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
$(BUILD)/san/unit-tests: $(UNIT_SRCS) $(UNIT_LIB_SRCS) $(USER_HDRS) $(UNIT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(TT_CPPFLAGS) $(CPPFLAGS) $(TT_CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -Itests/unit \
		$(UNIT_SRCS) $(UNIT_LIB_SRCS) -o $@ $(LDLIBS)

# libFuzzer over the replay path, checksums recomputed so the fuzzer gets past them.
FUZZ_SECONDS ?= 120
$(BUILD)/fuzz-recfile: tests/fuzz/fuzz_recfile.c $(CORE_SRCS) $(USER_HDRS) | $(BUILD)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -DTT_VERSION='"$(VERSION)"' -DTT_FUZZING -Ibpf -Iuser \
		tests/fuzz/fuzz_recfile.c $(CORE_SRCS) -o $@ -lz

fuzz: $(BUILD)/fuzz-recfile
	@mkdir -p $(BUILD)/fuzz-corpus tests/fuzz/crashers
	cp tests/data/*.rec $(BUILD)/fuzz-corpus/
	$(BUILD)/fuzz-recfile -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		-artifact_prefix=tests/fuzz/crashers/ $(BUILD)/fuzz-corpus

$(BUILD)/gen-records: tests/bench/gen-records.c $(CORE_OBJS) | $(BUILD)
	$(COMPILE) $(LDFLAGS) $< $(CORE_OBJS) -o $@ $(LDLIBS)

$(BUILD)/memload: tests/bench/memload.c | $(BUILD)
	$(CC) -O2 -g -pthread -Wall $< -o $@

# Install the Debian packages the build and tests need when something is missing.
check-deps:
	@tools/install-deps --check >/dev/null 2>&1 || tools/install-deps

deps:
	tools/install-deps

demo: check-deps
	$(MAKE) threadtrace $(BUILD)/workloads/demo
	./threadtrace -- $(BUILD)/workloads/demo

test: check-deps
	$(MAKE) threadtrace $(BUILD)/unit-tests $(BUILD)/san/unit-tests $(WORKLOADS)
	tests/run-all

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

# The real servers it runs (memcached, MariaDB, Redis, their loads) are bench-only packages:
# make test never installs a database server.
bench: check-deps
	@tools/install-deps --bench --check >/dev/null 2>&1 || tools/install-deps --bench
	$(MAKE) threadtrace $(WORKLOADS) $(BUILD)/gen-records $(BUILD)/memload
	tests/bench/run

install: threadtrace
	install -D -m 0755 threadtrace $(DESTDIR)$(PREFIX)/sbin/threadtrace
	install -D -m 0644 doc/threadtrace.8 $(DESTDIR)$(PREFIX)/share/man/man8/threadtrace.8

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/threadtrace $(DESTDIR)$(PREFIX)/share/man/man8/threadtrace.8

vmlinux:
	tools/gen-vmlinux

# The C sources in the repository's style (.clang-format); check-format is part of make test.
FORMAT_SRCS = $(wildcard user/*.c user/*.h bpf/*.c bpf/*.h tests/unit/*.c tests/unit/*.h \
	tests/workloads/*.c tests/bench/*.c tests/fuzz/*.c)

format:
	clang-format -i $(FORMAT_SRCS)

check-format:
	@clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf $(BUILD) threadtrace
