/* sk_test_util.c — helpers shared by the test binaries. */
#include "sk_test_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

char *skt_tmpdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *p = malloc(n);
    if (!p) abort();
    snprintf(p, n, "%s/sparsek-%s-XXXXXX", base, tag);
    if (!mkdtemp(p)) { perror("mkdtemp"); abort(); }
    return p;
}

void skt_rmtree(const char *path) {
    if (!path || !strstr(path, "/sparsek-")) return;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

int skt_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

char *skt_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (cap - len < 2) { cap *= 2; char *nb = realloc(b, cap); if (!nb) { free(b); b = NULL; } else b = nb; }
    }
    fclose(f);
    if (!b) return NULL;
    b[len] = 0;
    if (n) *n = len;
    return b;
}

int skt_run(const char *cmd, char **out) {
    char *full = malloc(strlen(cmd) + 16);
    if (!full) abort();
    sprintf(full, "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    free(full);
    if (!p) return -1;
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    size_t r;
    while ((r = fread(b + len, 1, cap - len - 1, p)) > 0) {
        len += r;
        if (cap - len < 2) { cap *= 2; b = realloc(b, cap); if (!b) abort(); }
    }
    b[len] = 0;
    int st = pclose(p);
    if (out) *out = b; else free(b);
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

int skt_build_cuda_lib(const char *src, const char *lib, const char *extra, const char *what) {
    const char *home = getenv("CUDA_HOME");
    if (!home || !*home) home = "/usr/local/cuda";
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "${CC:-cc} -shared -fPIC %s -I'%s/include' -o '%s' '%s'", extra, home, lib, src);
    const int rc = skt_run(cmd, &out) == 0 ? 0 : -1;
    if (rc) fprintf(stderr, "note: cannot build the %s (%s); its tests are skipped\n", what, out ? out : "");
    free(out);
    return rc;
}
