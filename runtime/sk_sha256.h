/* sk_sha256.h — SHA-256 (FIPS 180-4) for cache keys and entry checksums. */
#ifndef SK_SHA256_H
#define SK_SHA256_H
#include <stddef.h>
#include <stdint.h>
#include "sk_internal.h"

typedef struct sk_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t block[64];
    size_t used;
} sk_sha256;

SK_HIDDEN void sk_sha256_init(sk_sha256 *c);
SK_HIDDEN void sk_sha256_update(sk_sha256 *c, const void *data, size_t n);
SK_HIDDEN void sk_sha256_final(sk_sha256 *c, uint8_t out[32]);
/* One-shot, hex output: 64 chars + NUL. */
SK_HIDDEN void sk_sha256_hex(const void *data, size_t n, char out[65]);
SK_HIDDEN void sk_hex(const uint8_t *bytes, size_t n, char *out /* 2n+1 */);

#endif
