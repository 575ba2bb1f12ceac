# drover - one non-recursive Makefile. `make help` lists the targets.
# V=1 shows commands. BUILD=dir changes the output folder (the ASan build uses build/asan).

BUILD   ?= build
CC      ?= cc
V       ?= 0
Q        = $(if $(filter 1,$(V)),,@)

# Debian packages the build and tests need (checked by `make deps`).
DEB_PKGS = gcc make pkg-config libraft-dev libuv1-dev libmicrohttpd-dev libjansson-dev \
           libcurl4-openssl-dev libsqlite3-dev libcriterion-dev curl procps \
           libmnl-dev pci.ids libgnutls28-dev libseccomp-dev libcap-dev openssl \
           python3 iproute2 libcurl3-gnutls libjemalloc-dev
PKGS     = raft libuv libmicrohttpd jansson libcurl sqlite3 libmnl gnutls libseccomp libcap

OPT     ?= -O2 -g
override CFLAGS += $(OPT) -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
           -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -fno-strict-aliasing \
           -D_GNU_SOURCE -I. $(SAN_FLAGS)
override LDFLAGS += $(SAN_FLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBS       = $(PKG_LIBS) -lpthread -lm
# The agent and the CLI link Debian's GnuTLS flavour of libcurl (libcurl3-gnutls,
# the same API and headers): GnuTLS is mapped already (libmicrohttpd), and
# libssl is not mapped at all (the agent's RSS; bench/agent.sh shows it per library).
CURL_GNUTLS = $(firstword $(wildcard /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/libcurl-gnutls.so.4 \
                                     /usr/lib/libcurl-gnutls.so.4))
GNUTLS_LIBS = $(if $(CURL_GNUTLS),$(patsubst -lcurl,$(CURL_GNUTLS),$(LIBS)),$(LIBS))
# drover-server and bench/sched use jemalloc (libjemalloc-dev) as their malloc: the state
# store's persistent maps churn millions of small blocks over a heap of hundreds of MB,
# where glibc's malloc spent ~18% of c1m in _int_malloc and malloc_consolidate
# (bench/RESULTS.md, session 20 "heap"). Sanitizer builds keep glibc's: ASan and TSan
# bring their own allocator.
MALLOC_LIBS = $(if $(SAN_FLAGS),,-ljemalloc)
# drover-server's jemalloc options (controlplane/malloc_conf.c: 2 arenas; no
# transparent huge pages, whose first-touch zeroing cost more than the faults saved).
MALLOC_OBJ = $(if $(SAN_FLAGS),,$(call obj,controlplane/malloc_conf.c))
# TSan builds link common/tsan_close.c's syscall() into each daemon and the CLI: libuv
# closes fds through syscall(SYS_close), which TSan does not see (the file says why).
TSAN_OBJ = $(if $(findstring thread,$(SAN_FLAGS)),$(call obj,common/tsan_close.c))

# ---- sources -----------------------------------------------------------------
COMMON_SRC = $(wildcard common/*.c)
# The pure control-plane core: the scheduler library links only this and common.
CORE_SRC   = $(wildcard controlplane/state/*.c controlplane/acl/*.c controlplane/broker/*.c \
                        controlplane/scheduler/*.c controlplane/plan/*.c controlplane/events/*.c)
SERVER_SRC = $(filter-out controlplane/main.c controlplane/malloc_conf.c,$(wildcard controlplane/raft/*.c controlplane/api/*.c \
                        controlplane/leader/*.c controlplane/*.c))
AGENT_SRC  = $(filter-out nodeagent/main.c,$(wildcard nodeagent/*.c nodeagent/*/*.c isolation/*.c))
CLI_SRC    = $(filter-out cli/main.c,$(wildcard cli/*.c))
# tests/unit/http drives the real listener (controlplane/api/http.c) over sockets, in
# the same binary as the routes' tests over the api harness (another http_req.h transport).
UNIT_SRC   = $(wildcard tests/unit/*.c tests/unit/http/*.c tests/support/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBCOMMON = $(BUILD)/lib/libdrover-common.a
LIBCORE   = $(BUILD)/lib/libdrover-core.a
LIBSERVER = $(BUILD)/lib/libdrover-server.a
LIBAGENT  = $(BUILD)/lib/libdrover-agent.a
LIBCLI    = $(BUILD)/lib/libdrover-cli.a
BINS      = $(BUILD)/bin/drover $(BUILD)/bin/drover-server $(BUILD)/bin/drover-agent
UNIT_BIN  = $(BUILD)/tests/unit-tests
BENCH_SCHED = $(BUILD)/bench/sched
BENCH_START = $(BUILD)/bench/start
BENCH_RAFT  = $(BUILD)/bench/raft_load

.PHONY: all help deps test unit unit-asan unit-tsan integration-tsan server-asan integration conformance dev dev-stop bench vmtest fuzz deb rpm install clean format

all: $(BINS)

help:
	@echo "make            build build/bin/{drover,drover-server,drover-agent}"
	@echo "make dev        install deps, build, start a one-host cluster, run examples/hello.hcl"
	@echo "make test       install deps, build, run unit (plain, ASan/UBSan, TSan), integration (plain, TSan), vm and fuzz tiers"
	@echo "make unit-tsan  the HTTP listener and log endpoint under ThreadSanitizer; integration-tsan: the daemons"
	@echo "make bench      run every benchmark under bench/ and append to bench/RESULTS.md"
	@echo "make vmtest     cgroup v2 tests inside a qemu VM (tests/vm)"
	@echo "make fuzz       bounded libFuzzer runs (tests/fuzz; FUZZ_SECONDS per target, default 60)"
	@echo "make deb|rpm    packages (packaging/)"
	@echo "make install    binaries to \$$(DESTDIR)\$$(PREFIX)/bin (PREFIX=/usr/local), systemd units"
	@echo "make clean      remove build/"

# ---- dependencies: installed from Debian when missing ------------------------
DEPS_STAMP = $(BUILD)/.deps-ok
deps: $(DEPS_STAMP)
$(DEPS_STAMP): Makefile
	$(Q)scripts/deps.sh $(DEB_PKGS)
	$(Q)mkdir -p $(BUILD) && touch $@

# ---- compile -----------------------------------------------------------------
$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lib/%.a:
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
$(LIBCORE):   $(call obj,$(CORE_SRC))
$(LIBSERVER): $(call obj,$(SERVER_SRC))
$(LIBAGENT):  $(call obj,$(AGENT_SRC))
$(LIBCLI):    $(call obj,$(CLI_SRC))

$(BUILD)/bin/drover-server: $(call obj,controlplane/main.c) $(MALLOC_OBJ) $(TSAN_OBJ) $(LIBSERVER) $(LIBCORE) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(MALLOC_LIBS)

$(BUILD)/bin/drover-agent: $(call obj,nodeagent/main.c) $(TSAN_OBJ) $(LIBAGENT) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(GNUTLS_LIBS)

$(BUILD)/bin/drover: $(call obj,cli/main.c) $(TSAN_OBJ) $(LIBCLI) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(GNUTLS_LIBS)

# Every object of the libraries goes in (--whole-archive), not only those the tests
# pull: a test or the api harness that defines a function the libraries define
# (link-time shadowing, which STYLE.md rules out: tests plug into ops tables) is a
# "multiple definition" link error, not a silent replacement.
# bench/sched_offline.c (pure: the benchmark's offline packing reference) has its unit tests.
UNIT_LIBS = $(LIBSERVER) $(LIBAGENT) $(LIBCLI) $(LIBCORE) $(LIBCOMMON)
UNIT_OBJS = $(call obj,$(UNIT_SRC) bench/sched_offline.c)
$(UNIT_BIN): $(UNIT_OBJS) $(UNIT_LIBS)
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJS) -Wl,--whole-archive $(UNIT_LIBS) -Wl,--no-whole-archive \
	    $(LIBS) -lcriterion

# The scheduler benchmark links only the pure core (state, broker, scheduler, plan) and common.
$(BENCH_SCHED): $(call obj,$(wildcard bench/sched*.c)) $(LIBCORE) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(MALLOC_LIBS)

# The isolated-start benchmark links the isolation library (in the agent library).
$(BENCH_START): $(call obj,bench/start.c) $(LIBAGENT) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The Raft load generator: libcurl's multi interface, nothing of drover's.
$(BENCH_RAFT): $(call obj,bench/raft_load.c)
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# ---- tests -------------------------------------------------------------------
# Unit tests run from the repo root so that they find tests/conformance.
unit: $(UNIT_BIN)
	$(Q)$(UNIT_BIN) --jobs 2 $(UNIT_ARGS)

# The sanitizers' reports are judged by tests/support/san_check.sh on the run's
# output (kept in build/asan/unit.log): Criterion's workers exit 0 whatever LSan
# finds in them, so a leak in a test only printed; now any report of ours fails, and
# the 48 bytes Criterion 2.4's own runner leaks (two timed suites in parallel) are
# noted, not failed (exitcode=0: the verdict is the check's). Not log_path: a
# report file per process changes the fds a forked task sees (agent_spawn fails).
UNIT_ASAN_OPTIONS = detect_leaks=1:exitcode=0
UNIT_UBSAN_OPTIONS = print_stacktrace=1
unit-asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g" \
	    SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    build/asan/tests/unit-tests
	$(Q){ ASAN_OPTIONS=$(UNIT_ASAN_OPTIONS) UBSAN_OPTIONS=$(UNIT_UBSAN_OPTIONS) \
	    build/asan/tests/unit-tests --jobs 2 $(UNIT_ARGS); echo $$? >build/asan/unit.rc; } 2>&1 | tee build/asan/unit.log
	$(Q)tests/support/san_check.sh build/asan/unit.log && exit $$(cat build/asan/unit.rc)

# ThreadSanitizer. Criterion 2.4 cannot run under it (its boxfort arena maps at
# fixed addresses ThreadSanitizer reserves: "Could not initialize inheritable
# arena", then a SEGV in libcriterion; Criterion issue #274), so the threaded
# code's unit-level TSan run drives the HTTP listener (controlplane/api/http.c:
# libmicrohttpd's thread against the loop thread, parked and held requests,
# streams, shutdown under them) and the agent's log endpoint through the fuzz
# harnesses built with -fsanitize=fuzzer,thread: their seeds, kept regressions,
# then TSAN_FUZZ_SECONDS (20) of fuzzing each. integration-tsan runs
# tests/integration/run.sh against TSan builds of the daemons (build/tsan).
# A report fails either; tests/security/tsan.supp names third-party libraries only.
# report_signal_unsafe=0: libFuzzer's -timeout handler allocates; reporting that
# deadlocks TSan (seen: a hang instead of a timeout report).
TSAN_MAKE = $(MAKE) --no-print-directory BUILD=build/tsan OPT="-O1 -g" SAN_FLAGS="-fsanitize=thread -fno-omit-frame-pointer"
unit-tsan: deps
	$(Q)TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 report_signal_unsafe=0 suppressions=$(CURDIR)/tests/security/tsan.supp" \
	    FUZZ_SANITIZER=thread FUZZ_TARGETS="fuzz_http fuzz_agent_logs" FUZZ_SECONDS=$${TSAN_FUZZ_SECONDS:-20} \
	    tests/fuzz/run.sh

integration-tsan:
	$(Q)$(TSAN_MAKE) build/tsan/bin/drover-server build/tsan/bin/drover-agent build/tsan/bin/drover
	$(Q)tests/security/tsan.sh build/tsan/bin

# drover-server with ASan/UBSan: tests/integration/cluster.sh sends it SIGTERM with writes in flight.
server-asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g" \
	    SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    build/asan/bin/drover-server

integration: all server-asan
	$(Q)tests/integration/run.sh $(BUILD)/bin
	$(Q)tests/integration/job_kinds.sh $(BUILD)/bin
	$(Q)tests/integration/alloc_ctl.sh $(BUILD)/bin
	$(Q)tests/integration/agent_grace.sh $(BUILD)/bin
	$(Q)tests/integration/lifecycle.sh $(BUILD)/bin
	$(Q)tests/integration/devices.sh $(BUILD)/bin
	$(Q)tests/integration/fingerprint_refresh.sh $(BUILD)/bin
	$(Q)tests/integration/agent_state.sh $(BUILD)/bin
	$(Q)tests/cli/golden.sh $(BUILD)/bin
	$(Q)tests/cli/dev_config.sh $(BUILD)/bin
	$(Q)tests/cli/agent_config.sh $(BUILD)/bin
	$(Q)tests/api/run.sh $(BUILD)/bin
	$(Q)tests/api/cluster_api.sh $(BUILD)/bin
	$(Q)tests/integration/deploy.sh $(BUILD)/bin
	$(Q)tests/integration/reschedule.sh $(BUILD)/bin
	$(Q)tests/integration/snapshot.sh $(BUILD)/bin
	$(Q)tests/integration/cluster_hold.sh $(BUILD)/bin
	$(Q)SECURITY_SERVER=build/asan/bin/drover-server tests/security/run.sh $(BUILD)/bin
	$(Q)tests/security/tls.sh $(BUILD)/bin
	$(Q)tests/security/nodeauth.sh $(BUILD)/bin
	$(Q)tests/security/acl.sh $(BUILD)/bin
	$(Q)tests/security/servers.sh $(BUILD)/bin
	$(Q)tests/security/flood.sh $(BUILD)/bin
	$(Q)tests/security/agent_port.sh $(BUILD)/bin
	$(Q)tests/security/parked.sh $(BUILD)/bin

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory unit-asan
	$(Q)$(MAKE) --no-print-directory unit-tsan
	$(Q)$(MAKE) --no-print-directory integration
	$(Q)$(MAKE) --no-print-directory integration-tsan
	$(Q)$(MAKE) --no-print-directory vmtest
	$(Q)FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(MAKE) --no-print-directory fuzz
	@echo "make test: all tiers passed (unit, unit-asan, unit-tsan, integration, integration-tsan, vm, fuzz)"

# ---- running -----------------------------------------------------------------
dev: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/dev.sh $(BUILD)/bin

dev-stop:
	$(Q)f=$${TMPDIR:-/tmp}/drover-dev.pid; if [ -f $$f ] && kill $$(cat $$f) 2>/dev/null; then \
	    echo "drover dev stopped"; rm -f $$f; else echo "no drover dev running"; fi

bench: all $(BENCH_SCHED) $(BENCH_START) $(BENCH_RAFT)
	$(Q)set -e; for b in bench/*.sh; do [ -x "$$b" ] && "$$b" $(BUILD)/bin; done; true

bench-%: all
	$(Q)bench/$*.sh $(BUILD)/bin

# bench-sched also needs its binary (the pattern rule above gives the recipe).
bench-sched: $(BENCH_SCHED)
bench-start: $(BENCH_START)
bench-raft: $(BENCH_RAFT)

vmtest: all
	$(Q)tests/vm/run.sh $(BUILD)/bin

fuzz: deps
	$(Q)tests/fuzz/run.sh

deb: all
	$(Q)packaging/deb/build.sh $(BUILD)

rpm: all
	$(Q)packaging/rpm/build.sh $(BUILD)

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

PREFIX ?= /usr/local
SYSTEMD_DIR ?= /lib/systemd/system
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSTEMD_DIR)
	install -m 0755 $(BUILD)/bin/drover $(BUILD)/bin/drover-server $(BUILD)/bin/drover-agent $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/bin/|$(PREFIX)/bin/|' packaging/systemd/drover-server.service >$(DESTDIR)$(SYSTEMD_DIR)/drover-server.service
	sed 's|/usr/bin/|$(PREFIX)/bin/|' packaging/systemd/drover-agent.service >$(DESTDIR)$(SYSTEMD_DIR)/drover-agent.service

clean:
	rm -rf $(BUILD)
