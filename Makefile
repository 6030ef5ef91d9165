# SparseK — build, test, install.
#   make            libraries, CLI, tests
#   make test       CPU tests (no GPU needed)
#   make demo       generate + compile the first kernel; with a GPU, run and check it
#   make check-gpu  GPU tests (skip with exit 77 where there is no GPU)
#   make install PREFIX=/usr/local
# Variables: CUDA_HOME (/usr/local/cuda), BUILD (build), PREFIX (/usr/local).

CUDA_HOME ?= /usr/local/cuda
BUILD     ?= build
PREFIX    ?= /usr/local
CC        ?= gcc
LUA_CFLAGS ?= -I/usr/include/lua5.4
LUA_LIBS  ?= -llua5.4 -lm

VERSION   := 0.1.0
WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS    ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) \
              -Iruntime -Igen -Ituner -I$(BUILD) -I$(CUDA_HOME)/include $(LUA_CFLAGS)
LIBS      := $(LUA_LIBS) -ldl -lpthread
RPATH     := -Wl,-rpath,'$$ORIGIN'

# Scripts compiled into the library: the Lua generator library and the templates.
SCRIPTS   := $(sort $(wildcard gen/lua/sparsek/*.lua) $(wildcard templates/*.lua) $(wildcard templates/*.cut))
LIB_SRC   := $(sort $(wildcard runtime/*.c) $(wildcard gen/sk_*.c) $(wildcard tuner/sk_*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/embedded_scripts.o
CLI_SRC   := tuner/sparsek_tune.c $(sort $(wildcard tuner/cli_*.c))
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TESTS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
GPU_SRC   := $(sort $(wildcard tests/gpu/gpu_*.c))
GPU_TESTS := $(GPU_SRC:tests/gpu/%.c=$(BUILD)/tests/%)
HEADERS   := $(wildcard runtime/*.h gen/*.h tuner/*.h tests/*.h tests/gpu/*.h)

.PHONY: all lib cli tests test check-gpu demo install clean deps dump
all: lib cli tests

lib: $(BUILD)/libsparsek.a $(BUILD)/libsparsek.so
cli: $(BUILD)/sparsek-tune
tests: $(TESTS) $(GPU_TESTS)

$(BUILD)/embed: gen/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 $(WARN) -o $@ $<

$(BUILD)/embedded_scripts.c: $(BUILD)/embed $(SCRIPTS)
	$(BUILD)/embed $@ $(SCRIPTS)

$(BUILD)/obj/embedded_scripts.o: $(BUILD)/embedded_scripts.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libsparsek.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/libsparsek.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libsparsek.so.0 -Wl,--no-undefined -o $@ $^ $(LIBS) $(RPATH)

$(BUILD)/sparsek-tune: $(CLI_OBJ) $(BUILD)/libsparsek.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libsparsek.a $(LIBS) $(RPATH)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libsparsek.a $(HEADERS) tests/sk_test_util.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< tests/sk_test_util.c $(BUILD)/libsparsek.a -lcmocka $(LIBS) $(RPATH)

$(BUILD)/tests/gpu_%: tests/gpu/gpu_%.c $(BUILD)/libsparsek.a $(HEADERS) tests/sk_test_util.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< tests/sk_test_util.c $(BUILD)/libsparsek.a $(LIBS) $(RPATH)

# CPU tests. Each test binary runs in the test directory's own temp cache.
test: $(TESTS) $(BUILD)/sparsek-tune
	@set -e; for t in $(TESTS); do echo "== $$t"; SPARSEK_TEST_BIN=$(BUILD) $$t; done; echo "all CPU tests passed"

check-gpu: $(GPU_TESTS) $(BUILD)/sparsek-tune
	@set -e; for t in $(GPU_TESTS); do echo "== $$t"; rc=0; $$t || rc=$$?; \
	  if [ $$rc = 77 ]; then echo "skipped (no GPU)"; elif [ $$rc != 0 ]; then exit $$rc; fi; done

demo: $(BUILD)/sparsek-tune $(BUILD)/tests/gpu_fmha
	@sh tests/demo.sh $(BUILD)

install: lib cli
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 runtime/sparsek.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libsparsek.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libsparsek.so $(DESTDIR)$(PREFIX)/lib/libsparsek.so.$(VERSION)
	ln -sf libsparsek.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libsparsek.so.0
	ln -sf libsparsek.so.0 $(DESTDIR)$(PREFIX)/lib/libsparsek.so
	install -m 755 $(BUILD)/sparsek-tune $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' runtime/sparsek.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sparsek.pc

# Debian packages the build and tests need (the README's commands call this).
deps:
	@sh .ci/deps.sh

clean:
	rm -rf $(BUILD)
