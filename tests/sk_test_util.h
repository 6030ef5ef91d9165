/* sk_test_util.h — small helpers shared by the test binaries. */
#ifndef SK_TEST_UTIL_H
#define SK_TEST_UTIL_H
#include <stddef.h>

/* mkdtemp under $TMPDIR (or /tmp); aborts the test binary on failure. Caller frees. */
char *skt_tmpdir(const char *tag);
/* rm -rf of a folder made by skt_tmpdir (refuses paths outside the temp folder). */
void skt_rmtree(const char *path);
/* Writes bytes to a file; returns 0 on success. */
int skt_write_file(const char *path, const void *data, size_t n);
/* Reads a file; returns malloc'd bytes (NUL-terminated) or NULL. */
char *skt_read_file(const char *path, size_t *n);
/* Runs a shell command, captures stdout+stderr into *out (malloc'd); returns the exit status
 * (or 128+signal). */
int skt_run(const char *cmd, char **out);
/* Builds the C file src into the shared library lib against $CUDA_HOME/include (default
 * /usr/local/cuda) with ${CC:-cc} and the extra flags; on failure says that the tests of `what`
 * are skipped and returns -1. */
int skt_build_cuda_lib(const char *src, const char *lib, const char *extra, const char *what);
#endif
