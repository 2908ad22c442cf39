# hero-snap toolkit - one non-recursive Makefile.
PREFIX  ?= /usr/local
CC      ?= cc
WERROR  ?=
SANITIZE ?=
OPT     ?= -O2 -g
BUILD   ?= build
# The test build: the same sources with -DHERO_TESTING, which compiles in the fault
# switches the test suite drives (HERO_FAULT, HERO_MIGRATE_KILL_AT, HERO_MIGRATE_FAULT;
# docs/security.md 5.1). `make test` builds it into $(TEST_BUILD) and runs the suite
# against it; `make all`, `install`, `demo` and `bench` build release binaries without
# them. A build directory named .../testing is a test build.
TEST_BUILD ?= $(BUILD)/testing
TESTING ?= $(if $(filter testing %/testing,$(BUILD)),1)

PKGS := libarchive libzstd libsodium sqlite3 yaml-0.1 jansson libcurl icu-uc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
CMOCKA_LIBS := $(shell pkg-config --libs cmocka)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
        -Wformat=2 -Wwrite-strings -Wno-format-truncation
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(if $(WERROR),-Werror) \
           $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer) \
           -Iinclude $(PKG_CFLAGS) -MMD -MP \
           -DHERO_VERSION='"$(VERSION)"' -DHERO_DATADIR='"$(PREFIX)/share/hero"' \
           $(if $(TESTING),-DHERO_TESTING)
LDFLAGS += $(if $(SANITIZE),-fsanitize=$(SANITIZE))
LDLIBS  += $(PKG_LIBS) -lpthread

VERSION := 0.1.0

# The library's layers, lowest first (docs/architecture.md)
LAYERS    := base pipeline format state snapshot restore supervise migrate
LIB_SRC   := $(sort $(wildcard $(LAYERS:%=src/%/*.c)))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libhero.a

TOOLS     := $(patsubst cmd/%.c,%,$(sort $(wildcard cmd/hero-*.c)))
TOOL_BINS := $(TOOLS:%=$(BUILD)/bin/%)
FE_OBJ    := $(BUILD)/cmd/common.o

TEST_TOOL_SRC  := $(sort $(wildcard tests/tools/*.c))
TEST_TOOL_BINS := $(TEST_TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

MANPAGES  := $(sort $(wildcard docs/man/*.1))

# LD_PRELOAD fault shim for the crash tests (never sanitized: it runs inside other programs)
SHIM      := $(BUILD)/tests/hero-faultfs.so

.PHONY: all test unit cli checks check-layers test-build install demo clean bench fuzz fuzz-smoke fuzz-build
all: $(TOOL_BINS) $(TEST_TOOL_BINS) $(UNIT_BINS) $(SHIM)

$(SHIM): tests/shim/hero-faultfs.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra $(if $(WERROR),-Werror) -shared -fPIC -o $@ $< -ldl

# The library, its unit tests, test tools and fuzz targets see the internal
# headers ("layer/file.h" under -Isrc); the tools in cmd/ see only include/.
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

$(BUILD)/cmd/%.o: cmd/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/cmd/%.o $(FE_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

# The suite runs against the test build (unit and cli), and checks the release build.
test-build:
	@$(MAKE) --no-print-directory BUILD=$(TEST_BUILD) TESTING=1 all

unit: test-build
	@set -e; for t in $(UNIT_BINS:$(BUILD)/%=$(TEST_BUILD)/%); do echo "== $$t"; HERO_SRCDIR=$(CURDIR) $$t; done

cli: test-build
	@HERO_BUILD=$(CURDIR)/$(TEST_BUILD) bash tests/cli/run.sh

# The layers depend one way and no two files use each other (docs/architecture.md):
# the includes of src/, include/ and cmd/, the calls between the library's objects,
# and the check itself on violations planted in a scratch copy.
check-layers: $(LIB)
	@bash tests/tools/layers.sh --objects $(BUILD)/src && echo "layers: ok"
	@CC='$(CC)' bash tests/tools/layers.sh --self-test >/dev/null && echo "layers: planted violations refused"

# What the release build must not hold: unprefixed external symbols, fault switches.
checks: all check-layers
	@bash tests/tools/symbols.sh $(LIB)
	@bash tests/tools/release.sh $(BUILD)

test: checks unit cli

install: $(TOOL_BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/hero/manifests \
	           $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(TOOL_BINS) $(DESTDIR)$(PREFIX)/bin/
	cp -R manifests/. $(DESTDIR)$(PREFIX)/share/hero/manifests/
	$(if $(MANPAGES),install -m 0644 $(MANPAGES) $(DESTDIR)$(PREFIX)/share/man/man1/)

demo: all
	@HERO_BUILD=$(CURDIR)/$(BUILD) bash scripts/demo.sh

bench: all
	@HERO_BUILD=$(CURDIR)/$(BUILD) bash bench/run.sh

# ---- fuzzing: libFuzzer targets in tests/fuzz/, built with clang, ASan and UBSan into
# $(FUZZ_BUILD) by a second make of the library; `make fuzz` runs each FUZZ_SECONDS ----
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/common.c tests/fuzz/common.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -fsanitize=fuzzer -Isrc -Itests/fuzz -o $@ tests/fuzz/$*.c tests/fuzz/common.c \
		$(LIB) $(LDFLAGS) $(LDLIBS)

fuzz-build:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) WERROR= SANITIZE=address,undefined \
		OPT='-O1 -g -fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -Wno-unknown-warning-option' \
		$(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/%) $(FUZZ_BUILD)/tests/hero-hostile

fuzz: fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
