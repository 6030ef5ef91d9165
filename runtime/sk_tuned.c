/* sk_tuned.c — tuned winners in cache entries and the runtime's table (see sk_tuned.h). */
#include "sk_tuned.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sk_tuned_parse(const char *field, double time_us, sk_tuned_win *out, int cap) {
    int n = 0;
    for (const char *p = field ? field : ""; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *end = strchr(p, ' ');
        if (!end) end = p + strlen(p);
        const char *at = memchr(p, '@', (size_t)(end - p));
        const size_t blen = (size_t)((at ? at : end) - p);
        if (n >= cap || blen == 0 || blen >= sizeof out[0].bucket) return -1;
        sk_tuned_win *w = &out[n];
        memcpy(w->bucket, p, blen);
        w->bucket[blen] = 0;
        sk_bucket b;
        sk_err e;
        if (sk_bucket_parse(w->bucket, &b, &e) != SPARSEK_OK) return -1;
        if (at) {
            char num[64];
            const size_t tl = (size_t)(end - at - 1);
            if (tl == 0 || tl >= sizeof num) return -1;
            memcpy(num, at + 1, tl);
            num[tl] = 0;
            char *stop;
            w->us = strtod(num, &stop);
            if (*stop || !isfinite(w->us)) return -1;
        } else {
            w->us = time_us;
        }
        n++;
        p = end;
    }
    return n;
}

char *sk_tuned_format(const sk_tuned_win *w, int n, double *time_us) {
    *time_us = n > 0 ? w[0].us : 0;
    if (n == 1) return sk_strdup(w[0].bucket);
    sk_buf b = {0};
    for (int i = 0; i < n; i++) sk_buf_printf(&b, "%s%s@%.17g", i ? " " : "", w[i].bucket, w[i].us);
    if (n == 0) sk_buf_puts(&b, "");
    if (b.oom) {
        sk_buf_free(&b);
        return NULL;
    }
    sk_buf_put(&b, "", 1);
    return b.data;
}

int sk_tuned_set(sk_tuned_win *w, int n, const char *bucket, double us) {
    for (int i = 0; i < n; i++)
        if (!strcmp(w[i].bucket, bucket)) {
            w[i].us = us;
            return n;
        }
    snprintf(w[n].bucket, sizeof w[n].bucket, "%s", bucket);
    w[n].us = us;
    return n + 1;
}

int sk_tuned_remove(sk_tuned_win *w, int n, const char *bucket) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(w[i].bucket, bucket)) w[k++] = w[i];
    return k;
}

/* ---- the runtime's table ------------------------------------------------------------------ */

/* Adds or replaces (family, bucket); called with tuned_lock held. */
static void add_locked(sparsek_runtime *rt, const sk_bucket *b, const char *family, const char *config,
                       const char *gpu, double us, int pinned) {
    for (int i = 0; i < rt->ntuned; i++) {
        sk_tuned_item *t = &rt->tuned[i];
        if (strcmp(t->family, family) || memcmp(&t->b, b, sizeof *b)) continue;
        if (t->pinned && !pinned) return;
        char *c = sk_strdup(config), *g = sk_strdup(gpu ? gpu : "");
        if (!c || !g) {
            free(c);
            free(g);
            return;
        }
        free(t->config);
        free(t->gpu);
        t->config = c;
        t->gpu = g;
        t->us = us;
        t->pinned = pinned;
        return;
    }
    if (rt->ntuned == rt->tuned_cap) {
        int cap = rt->tuned_cap ? 2 * rt->tuned_cap : 16;
        sk_tuned_item *m = realloc(rt->tuned, (size_t)cap * sizeof *m);
        if (!m) return; /* out of memory: that bucket stays on the heuristic */
        rt->tuned = m;
        rt->tuned_cap = cap;
    }
    sk_tuned_item *t = &rt->tuned[rt->ntuned];
    t->b = *b;
    t->family = sk_strdup(family);
    t->config = sk_strdup(config);
    t->gpu = sk_strdup(gpu ? gpu : "");
    t->us = us;
    t->pinned = pinned;
    if (t->family && t->config && t->gpu) rt->ntuned++;
    else { free(t->family); free(t->config); free(t->gpu); }
}

/* Called with tuned_lock held. */
static void add_entry_locked(sparsek_runtime *rt, const sk_cache_entry *e, int pinned) {
    if (!e->bucket || !e->bucket[0]) return;
    sk_tuned_win *w = malloc(SK_TUNED_MAX * sizeof *w);
    if (!w) return;
    const int n = sk_tuned_parse(e->bucket, e->time_us, w, SK_TUNED_MAX);
    for (int i = 0; i < n; i++) {
        sk_bucket b;
        sk_err err;
        /* A bucket of another arch would never match a call; the entry's arch must agree. */
        if (sk_bucket_parse(w[i].bucket, &b, &err) == SPARSEK_OK && !strcmp(b.arch, e->arch))
            add_locked(rt, &b, e->family, e->config, e->gpu, w[i].us, pinned);
    }
    free(w);
}

void sk_rt_tuned_add_entry(sparsek_runtime *rt, const sk_cache_entry *e, int pinned) {
    pthread_mutex_lock(&rt->tuned_lock);
    add_entry_locked(rt, e, pinned);
    pthread_mutex_unlock(&rt->tuned_lock);
}

int sk_rt_tuned_count(sparsek_runtime *rt, int same_gpu) {
    int n = 0;
    pthread_mutex_lock(&rt->tuned_lock);
    for (int i = 0; i < rt->ntuned; i++)
        n += !strcmp(rt->tuned[i].b.arch, rt->info.arch) && (!same_gpu || !strcmp(rt->tuned[i].gpu, rt->info.name));
    pthread_mutex_unlock(&rt->tuned_lock);
    return n;
}

void sk_rt_tuned_scan(sparsek_runtime *rt, int force, int say) {
    /* Held across the scan: a call racing the first one waits for the table, instead of
     * running the heuristic meanwhile. */
    pthread_mutex_lock(&rt->tuned_lock);
    if (rt->tuned_scanned && !force) {
        pthread_mutex_unlock(&rt->tuned_lock);
        return;
    }
    rt->tuned_scanned = 1;
    char **paths = NULL;
    int n = 0;
    sk_err e;
    if (rt->cache_dir && sk_cache_list(rt->cache_dir, &paths, &n, &e) == SPARSEK_OK) {
        for (int i = 0; i < n; i++) {
            sk_cache_entry ent;
            /* Every entry is read whole (checksum included): a tuned winner we cannot trust is
             * not a winner. */
            if (sk_cache_read(paths[i], &ent, &e) == SPARSEK_OK && !strcmp(ent.arch, rt->info.arch))
                add_entry_locked(rt, &ent, 0);
            sk_cache_entry_clear(&ent);
            free(paths[i]);
        }
        free(paths);
    }
    pthread_mutex_unlock(&rt->tuned_lock);
    if (say && sk_rt_tuned_count(rt, 0) == 0)
        sk_rt_note(rt,
                   "no tuned kernels for %s (%s) in %s: using the heuristic tile choice; run "
                   "'sparsek-tune tune --preset standard' or set SPARSEK_AUTOTUNE=1 to tune",
                   rt->info.name, rt->info.arch, rt->cache_dir ? rt->cache_dir : "(no cache folder)");
}

int sk_rt_tuned_config(sparsek_runtime *rt, const char *family, const sparsek_attention_params *p, char *cfg,
                       size_t n, char *used, size_t used_n, double *us) {
    sk_rt_tuned_scan(rt, 0, 1);
    sk_bucket want;
    sk_bucket_of(rt->info.arch, p, &want);
    int found = 0;
    pthread_mutex_lock(&rt->tuned_lock);
    int best = -1, best_cost = 0;
    for (int i = 0; i < rt->ntuned; i++) {
        if (strcmp(rt->tuned[i].family, family)) continue;
        int c = sk_bucket_distance(&want, &rt->tuned[i].b);
        /* Another GPU's winner only when this GPU has none for the (dtype, d, mask). */
        if (c >= 0 && strcmp(rt->tuned[i].gpu, rt->info.name)) c += 1 << 20;
        if (c >= 0 && (best < 0 || c < best_cost)) {
            best = i;
            best_cost = c;
        }
    }
    if (best >= 0) {
        const int w = snprintf(cfg, n, "%s", rt->tuned[best].config);
        found = w >= 0 && (size_t)w < n;
        if (found && used) sk_bucket_format(&rt->tuned[best].b, used, used_n);
        if (found && us) *us = rt->tuned[best].us;
    }
    pthread_mutex_unlock(&rt->tuned_lock);
    return found;
}

void sk_rt_tuned_free(sparsek_runtime *rt) {
    for (int i = 0; i < rt->ntuned; i++) {
        free(rt->tuned[i].family);
        free(rt->tuned[i].config);
        free(rt->tuned[i].gpu);
    }
    free(rt->tuned);
    rt->tuned = NULL;
    rt->ntuned = rt->tuned_cap = 0;
}

void sk_rt_note(sparsek_runtime *rt, const char *fmt, ...) {
    const char *v = getenv("SPARSEK_VERBOSE");
    const int verbose = v && *v && strcmp(v, "0") != 0;
    if (!rt->opts.log && !verbose) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rt->opts.log) rt->opts.log(rt->opts.log_user, msg);
    else fprintf(stderr, "sparsek: %s\n", msg);
}
