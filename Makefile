# resonate-c build. Plain make, generated header dependencies (-MMD), three
# flavours of every object: release (build/rel), sanitized (build/san,
# AddressSanitizer + UndefinedBehaviorSanitizer) and ThreadSanitizer
# (build/tsan, unit tests only: `make tsan`), all three used by `make test`.

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
PKGS     = libmicrohttpd jansson sqlite3 libpq libcrypto libcurl gnutls

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
CPPFLAGS += -I. -D_GNU_SOURCE
# CFLAGS, CPPFLAGS and LDFLAGS from the caller (e.g. dpkg-buildflags'
# hardening in the Debian package) apply to the release build.
REL_CFLAGS = $(WARN) -O2 -g $(PKG_CFLAGS) $(CFLAGS)
SAN_CFLAGS = $(WARN) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all $(PKG_CFLAGS)
TSAN_CFLAGS = $(WARN) -O1 -g -fno-omit-frame-pointer -fsanitize=thread $(PKG_CFLAGS)
COV_CFLAGS = $(WARN) -O0 -g --coverage $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -lm

# The server library is every module but cli/; the command line (cli/, whose
# main.c holds main()) links on top of it. The library never refers to cli/
# (scripts/check-layers.sh checks it).
LIB_SRC  := $(sort $(wildcard core/*.c store/*.c auth/*.c conf/*.c server/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
CLI_LIB  := $(filter-out cli/main.c,$(CLI_SRC))
TEST_SRC := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRC := $(sort $(wildcard fuzz/*.c fuzz/seed/*.c))

# The web console (server/ui.h): the files of ui/ become byte arrays in a
# generated file that server/ui.c includes, so the binary serves them
# without reading ui/ or fetching anything.
UI_SRC   := $(sort $(wildcard ui/*))
UI_GEN   := $(BUILD)/gen/ui_assets.inc
CPPFLAGS += -I$(BUILD)/gen

# Fuzzing (fuzz/README.md): one libFuzzer target per fuzz/*.c but replay.c.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(sort $(patsubst fuzz/%.c,%,$(filter-out fuzz/replay.c,$(wildcard fuzz/*.c))))
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  = $(WARN) -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
               $(PKG_CFLAGS)
FUZZ_BINS    := $(addprefix $(BUILD)/fuzz/bin/,$(FUZZ_TARGETS))
FUZZ_REPLAY  := $(addprefix $(BUILD)/san/fuzz-replay/,$(FUZZ_TARGETS))

# `make V=1` shows full command lines.
Q = $(if $(V),,@)

rel_obj = $(patsubst %.c,$(BUILD)/rel/%.o,$(1))
san_obj = $(patsubst %.c,$(BUILD)/san/%.o,$(1))
tsan_obj = $(patsubst %.c,$(BUILD)/tsan/%.o,$(1))
cov_obj = $(patsubst %.c,$(BUILD)/cov/%.o,$(1))

.PHONY: all test unit tsan coverage check-format check-layers format bench install clean fuzz \
        fuzz-build fuzz-replay deb
all: resonate

resonate: $(BUILD)/rel/resonate
	cp $< $@

$(BUILD)/rel/resonate: $(call rel_obj,$(LIB_SRC) $(CLI_SRC))
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(REL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/san/resonate: $(call san_obj,$(LIB_SRC) $(CLI_SRC))
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tsan/resonate: $(call tsan_obj,$(LIB_SRC) $(CLI_SRC))
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(TSAN_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/rel/unit: $(call rel_obj,$(LIB_SRC) $(CLI_LIB) $(TEST_SRC))
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(REL_CFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/san/unit: $(call san_obj,$(LIB_SRC) $(CLI_LIB) $(TEST_SRC))
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/tsan/unit: $(call tsan_obj,$(LIB_SRC) $(CLI_LIB) $(TEST_SRC))
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(TSAN_CFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/cov/unit: $(call cov_obj,$(LIB_SRC) $(CLI_LIB) $(TEST_SRC))
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(COV_CFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(REL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC san  $<")
	$(Q)$(CC) $(CPPFLAGS) $(SAN_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tsan/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC tsan $<")
	$(Q)$(CC) $(CPPFLAGS) $(TSAN_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/cov/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC cov  $<")
	$(Q)$(CC) $(CPPFLAGS) $(COV_CFLAGS) -MMD -MP -c -o $@ $<

$(UI_GEN): scripts/embed-ui.sh $(UI_SRC)
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  GEN     $@")
	$(Q)scripts/embed-ui.sh $(UI_SRC) > $@.tmp && mv $@.tmp $@

$(foreach f,rel san tsan cov fuzz,$(BUILD)/$(f)/server/ui.o): $(UI_GEN)

# Unit tests only, both flavours (fast inner loop).
unit: $(BUILD)/rel/unit $(BUILD)/san/unit
	$(BUILD)/rel/unit
	$(BUILD)/san/unit

# The unit tests under ThreadSanitizer (build/tsan). io_sync=0: no
# happens-before is implied by I/O, so a race is not hidden by unrelated
# socket traffic between the threads (the PostgreSQL connections of the
# reader pool's tests would otherwise order everything). The PostgreSQL
# cases run when RESONATE_TEST_PG_URL is set, as in `make unit`. Check's
# timeouts are scaled by 4, as in tests/run.sh.
TSAN_OPTIONS_RUN = io_sync=0 second_deadlock_stack=1 history_size=4
# Without ASLR where allowed: see tests/run.sh (gcc 12's TSan and
# vm.mmap_rnd_bits above 28).
TSAN_NORAND = $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)
tsan: $(BUILD)/tsan/unit
	CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-4} TSAN_OPTIONS="$(TSAN_OPTIONS_RUN) $(TSAN_OPTIONS)" \
	    $(TSAN_NORAND) $(BUILD)/tsan/unit

# Line coverage of the unit tests (only them) per folder, with gcc's gcov:
# builds them with --coverage in $(BUILD)/cov, runs them from zeroed
# counters and prints the table of scripts/coverage.sh (COV_ARGS=-v adds
# one line per file). cli/main.c is compiled (not linked) so that it counts.
# Fails when a unit test fails, after printing the table.
coverage: $(BUILD)/cov/unit $(call cov_obj,cli/main.c)
	$(Q)find $(BUILD)/cov -name '*.gcda' -delete
	$(Q)rc=0; $(BUILD)/cov/unit >$(BUILD)/cov/unit.log 2>&1 || rc=$$?; \
	    tail -n 1 $(BUILD)/cov/unit.log; scripts/coverage.sh $(COV_ARGS) $(BUILD)/cov; exit $$rc

# The whole suite: unit tests (release, ASan/UBSan, TSan), then the tests that
# drive a running server (differential, end-to-end). Prints `N passed, N failed`.
test: resonate $(BUILD)/rel/unit $(BUILD)/san/unit $(BUILD)/tsan/unit $(BUILD)/san/resonate \
      $(FUZZ_REPLAY)
	fuzz/run.sh --replay $(BUILD)/san/fuzz-replay $(FUZZ_TARGETS)
	BUILD=$(BUILD) TSAN_OPTIONS="$(TSAN_OPTIONS_RUN) $(TSAN_OPTIONS)" tests/run.sh

# Fuzzing: libFuzzer targets built with clang against the library sources,
# sanitizers on. `make fuzz` replays fuzz/regressions/ and runs each target
# FUZZ_SECONDS; `make fuzz-build` only builds them. The replay binaries (gcc,
# sanitizers, no libFuzzer) let `make test` replay the regressions and the
# seed corpus without clang.
$(BUILD)/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC fuzz $<")
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/libresonate.a: $(patsubst %.c,$(BUILD)/fuzz/%.o,$(LIB_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/bin/%: $(BUILD)/fuzz/fuzz/%.o $(BUILD)/fuzz/libresonate.a
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  LD fuzz $@")
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(BUILD)/san/fuzz-replay/%: $(BUILD)/san/fuzz/%.o $(BUILD)/san/fuzz/replay.o \
                            $(call san_obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(LDLIBS)

# Kept, so an unchanged target is not recompiled at every run.
.SECONDARY: $(patsubst %.c,$(BUILD)/fuzz/%.o,$(FUZZ_SRC)) \
            $(patsubst %.c,$(BUILD)/san/%.o,$(FUZZ_SRC))

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) fuzz/run.sh $(BUILD)/fuzz/bin $(FUZZ_TARGETS)

fuzz-replay: $(FUZZ_REPLAY)
	fuzz/run.sh --replay $(BUILD)/san/fuzz-replay $(FUZZ_TARGETS)

# Dependency rules between the folders (docs/architecture.md).
check-layers: $(call rel_obj,$(LIB_SRC) $(CLI_SRC))
	scripts/check-layers.sh $(BUILD)/rel

check-format:
	clang-format --dry-run --Werror $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(FUZZ_SRC) \
	    $(wildcard */*.h tests/unit/*.h)

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(FUZZ_SRC) $(wildcard */*.h tests/unit/*.h)

bench: resonate
	bench/run.sh
	bench/search.sh
	bench/tls.sh
	bench/postgres.sh

# Installs the binary, the systemd unit (ExecStart pointed at $(BINDIR)),
# the example configuration, the man pages and the bash and zsh completion
# (both printed by the binary from its flag tables: `resonate help --man`,
# `--completion`); /etc/resonate/resonate.toml is created from the example
# only when absent, so a reinstall never overwrites a configuration.
# INSTALL_BIN picks the binary to install (default: ./resonate, built here).
BINDIR        ?= $(PREFIX)/bin
SYSCONFDIR    ?= /etc
UNITDIR       ?= $(PREFIX)/lib/systemd/system
MANDIR        ?= $(PREFIX)/share/man
BASHCOMPDIR   ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR    ?= $(PREFIX)/share/zsh/site-functions
INSTALL_BIN   ?= resonate
install: $(INSTALL_BIN)
	install -D -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/resonate
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/resonate
	sed -e 's|/usr/local/bin/resonate|$(BINDIR)/resonate|' \
	    -e 's|/etc/resonate/|$(SYSCONFDIR)/resonate/|' \
	    conf/resonate.service > $(DESTDIR)$(UNITDIR)/resonate.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/resonate.service
	install -m 0644 resonate.toml.example $(DESTDIR)$(SYSCONFDIR)/resonate/resonate.toml.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/resonate/resonate.toml ] || \
	    install -m 0644 resonate.toml.example $(DESTDIR)$(SYSCONFDIR)/resonate/resonate.toml
	rm -rf $(BUILD)/doc && mkdir -p $(BUILD)/doc
	$(abspath $(INSTALL_BIN)) help --completion bash > $(BUILD)/doc/resonate.bash
	$(abspath $(INSTALL_BIN)) help --completion zsh > $(BUILD)/doc/_resonate
	install -D -m 0644 $(BUILD)/doc/resonate.bash $(DESTDIR)$(BASHCOMPDIR)/resonate
	install -D -m 0644 $(BUILD)/doc/_resonate $(DESTDIR)$(ZSHCOMPDIR)/_resonate
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	for p in $$($(abspath $(INSTALL_BIN)) help --man-pages); do \
	    $(abspath $(INSTALL_BIN)) help --man $$p > $(BUILD)/doc/$$p && \
	    install -m 0644 $(BUILD)/doc/$$p $(DESTDIR)$(MANDIR)/man$${p##*.}/$$p || exit 1; \
	done

# The Debian package resonate_<version>_<arch>.deb (debian/), built with
# dpkg-buildpackage from a copy of the tree in $(BUILD)/deb; it lands in
# $(BUILD)/. Needs ./scripts/deps.sh --deb. scripts/deb-check.sh checks it.
deb:
	BUILD=$(BUILD) scripts/deb.sh

clean:
	rm -rf $(BUILD) resonate

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
