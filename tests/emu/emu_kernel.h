/* emu_kernel.h — what a generated SparseK kernel needs to compile as plain C++ and run on the
 * CPU under tests/emu/emu_driver.cc (a fake libcuda): CUDA qualifiers, the built-in indices,
 * __syncthreads and the warp collectives on cooperative fibers (one per CUDA thread), shared
 * memory, atomics, fp16/bf16 storage types, and emulations of the PTX helpers the templates
 * emit (mma.sync m16n8k16, ldmatrix .x4 [.trans], cp.async, the shared loads/stores of the
 * epilogue) by their PTX ISA definitions. tests/emu/prepare.py removes the inline-PTX helper
 * definitions from a generated source and includes this first.
 *
 * Test-only code: slow (a context switch per thread per barrier), exact enough to compare
 * against the float64 reference with the GPU test's thresholds. */
#ifndef EMU_KERNEL_H
#define EMU_KERNEL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmath>

typedef unsigned int uint32_t_;
struct emu_dim3 { unsigned x, y, z; };

/* The fiber that runs the current CUDA thread, and the launch it belongs to. */
/* cp.async copies of one thread not yet landed: they land at cp.async.wait_group, so a kernel
 * that reads shared memory before waiting reads stale data. */
struct emu_async {
    unsigned dst;
    const void *src;
    int bytes, group;
};
enum { EMU_MAX_ASYNC = 1024 };
struct emu_thread {
    emu_dim3 tid;
    int linear;   /* threadIdx.x + ... */
    int npending, committed;   /* cp.async: copies issued, groups committed */
    emu_async pending[EMU_MAX_ASYNC];
};
extern "C" emu_thread *emu_current(void);
extern "C" const emu_dim3 *emu_block_idx(void);
extern "C" const emu_dim3 *emu_block_dim(void);
extern "C" const emu_dim3 *emu_grid_dim(void);
extern "C" unsigned char *emu_dyn_smem(void);
extern "C" void emu_syncthreads(void);
/* Warp exchange: every lane of the calling thread's warp deposits 8 bytes and gets all 32. */
extern "C" void emu_warp_exchange(const void *mine, void *all32);
/* As emu_warp_exchange with 64 bytes per lane. */
extern "C" void emu_warp_exchange64(const void *mine, void *all32x64);

#define threadIdx (emu_current()->tid)
#define blockIdx (*emu_block_idx())
#define blockDim (*emu_block_dim())
#define gridDim (*emu_grid_dim())

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __grid_constant__
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static

static inline void __syncthreads(void) { emu_syncthreads(); }
/* Blocks run one at a time (their __shared__ is static), so one flag serves every block: reset
 * once all threads are past its last use, set, read after everyone has set it. */
static int emu_or_flag;
static inline int __syncthreads_or(int pred) {
    emu_syncthreads();
    if (emu_current()->linear == 0) emu_or_flag = 0;
    emu_syncthreads();
    if (pred) emu_or_flag = 1;
    emu_syncthreads();
    return emu_or_flag;
}
/* Programmatic dependent launch: kernels run one after another here, so there is nothing to wait for. */
static inline void pdl_begin(void) {}
static inline void pdl_launch_only(void) {}
/* The anchored selection's ready flags: the anchor kernel has run to its end before the anchored
 * one starts, so a flag still 0 is a record never written (or a flag the runtime did not zero). */
static inline void flag_release(int *flag) { *flag = 1; }
static inline void flag_wait(const int *flag) {
    if (*flag != 1) {
        fprintf(stderr, "emu: flag_wait on a flag that is %d, not 1 (an anchor record never written)\n", *flag);
        abort();
    }
}
static inline void __syncwarp(unsigned = 0xffffffffu) {
    unsigned long long z = 0, all[32];
    emu_warp_exchange(&z, all);
}

/* ---- bit casts and math intrinsics ---- */
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
/* double to float rounded toward -inf: the nearest float, stepped down where it is above. */
static inline float __double2float_rd(double x) {
    float f = (float)x;
    if ((double)f > x) f = nextafterf(f, -INFINITY);
    return f;
}
static inline float __double2float_ru(double x) {
    float f = (float)x;
    if ((double)f < x) f = nextafterf(f, INFINITY);
    return f;
}
static inline float __saturatef(float x) { return x > 0.f ? (x < 1.f ? x : 1.f) : 0.f; } /* NaN: 0 */
/* glibc declares __log2f, __expf, __logf but does not export them: map to the plain functions. */
#define __log2f log2f
#define __expf expf
#define __logf logf
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
template <typename T> static inline T __ldg(const T *p) { return *p; }
template <typename T> static inline T __ldcg(const T *p) { return *p; }

/* ---- atomics (fibers are cooperative: plain read-modify-write is atomic) ---- */
static inline int atomicAdd(int *p, int v) { int o = *p; *p = o + v; return o; }
static inline unsigned atomicAdd(unsigned *p, unsigned v) { unsigned o = *p; *p = o + v; return o; }
static inline float atomicAdd(float *p, float v) { float o = *p; *p = o + v; return o; }
static inline double atomicAdd(double *p, double v) { double o = *p; *p = o + v; return o; }

/* ---- warp collectives ---- */
static inline int emu_lane(void) { return emu_current()->linear & 31; }
template <typename T> static inline T emu_shfl_src(T v, int src) {
    unsigned long long mine = 0, all[32];
    memcpy(&mine, &v, sizeof v);
    emu_warp_exchange(&mine, all);
    T r;
    memcpy(&r, &all[src & 31], sizeof r);
    return r;
}
template <typename T> static inline T __shfl_sync(unsigned, T v, int src) { return emu_shfl_src(v, src); }
template <typename T> static inline T __shfl_xor_sync(unsigned, T v, int m) { return emu_shfl_src(v, emu_lane() ^ m); }
template <typename T> static inline T __shfl_up_sync(unsigned, T v, unsigned d) {
    const int l = emu_lane();
    T r = emu_shfl_src(v, l >= (int)d ? l - (int)d : l);
    return r;
}
static inline unsigned __ballot_sync(unsigned, int pred) {
    unsigned long long mine = pred ? 1 : 0, all[32];
    emu_warp_exchange(&mine, all);
    unsigned b = 0;
    for (int i = 0; i < 32; i++) b |= (all[i] ? 1u : 0u) << i;
    return b;
}
static inline int __any_sync(unsigned m, int pred) { return __ballot_sync(m, pred) != 0; }
static inline int __all_sync(unsigned m, int pred) { return __ballot_sync(m, pred) == 0xffffffffu; }

/* ---- vector and 16-bit types ---- */
struct uint4 { unsigned x, y, z, w; };
struct float2 { float x, y; };
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
struct __half { unsigned short x; };
struct __nv_bfloat16 { unsigned short x; };

static inline unsigned short emu_bf16_bits(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    u += 0x7fff + ((u >> 16) & 1);
    return (unsigned short)(u >> 16);
}
static inline unsigned short emu_fp16_bits(float f) {
    /* round to nearest even through double, subnormals included */
    const unsigned u = __float_as_uint(f), sign = (u >> 16) & 0x8000;
    const float a = fabsf(f);
    if (a != a) return 0x7e00;
    if (a >= 65520.0f) return (unsigned short)(sign | 0x7c00);
    if (a < 6.103515625e-05f) { /* subnormal: multiples of 2^-24 */
        const float q = rintf(a * 16777216.0f);
        return (unsigned short)(sign | (unsigned)q);
    }
    int e;
    const float m = frexpf(a, &e); /* a = m 2^e, m in [0.5, 1) */
    float mant = rintf(m * 2048.0f); /* 11 significant bits */
    if (mant >= 2048.0f) { mant /= 2.0f; e++; }
    const unsigned exp = (unsigned)(e - 1 + 15);
    if (exp >= 31) return (unsigned short)(sign | 0x7c00);
    return (unsigned short)(sign | (exp << 10) | ((unsigned)mant & 0x3ff));
}
static inline float emu_bf16_value(unsigned short h) { return __uint_as_float((unsigned)h << 16); }
static inline float emu_fp16_value(unsigned short h) {
    const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0) v = ldexpf((float)mant, -24);
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = ldexpf((float)(mant | 0x400), exp - 25);
    return (h & 0x8000) ? -v : v;
}
static inline __half __float2half_rn(float f) { return __half{emu_fp16_bits(f)}; }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16{emu_bf16_bits(f)}; }

template <typename T> static inline unsigned short emu_bits(float f);
template <> inline unsigned short emu_bits<__half>(float f) { return emu_fp16_bits(f); }
template <> inline unsigned short emu_bits<__nv_bfloat16>(float f) { return emu_bf16_bits(f); }
template <typename T> static inline unsigned emu_pack2(float lo, float hi) {
    return (unsigned)emu_bits<T>(lo) | ((unsigned)emu_bits<T>(hi) << 16);
}

/* ---- shared memory addresses: offsets into the launch's dynamic shared memory ---- */
static inline unsigned __cvta_generic_to_shared(const void *p) {
    return (unsigned)((const unsigned char *)p - emu_dyn_smem());
}
static inline unsigned char *emu_smem_at(unsigned addr) { return emu_dyn_smem() + addr; }

/* ---- the PTX helpers ---- */
static inline void cp_async_16(unsigned smem_addr, const void *gmem, int src_bytes) {
    emu_thread *t = emu_current();
    if (t->npending == EMU_MAX_ASYNC) __builtin_trap();
    t->pending[t->npending++] = emu_async{smem_addr, gmem, src_bytes, t->committed};
}
static inline void cp_async_commit(void) { emu_current()->committed++; }
/* Lands every copy of the groups but the N most recent committed ones (PTX cp.async.wait_group). */
template <int N> static inline void cp_async_wait(void) {
    emu_thread *t = emu_current();
    int keep = 0;
    for (int i = 0; i < t->npending; i++) {
        const emu_async a = t->pending[i];
        if (a.group < t->committed - N) {
            unsigned char *d = emu_smem_at(a.dst);
            memset(d, 0, 16);
            if (a.bytes) memcpy(d, a.src, (size_t)a.bytes);
        } else {
            t->pending[keep++] = a;
        }
    }
    t->npending = keep;
}
static inline float fast_exp2(float x) { return exp2f(x); }
static inline void st_shared_b32(unsigned addr, unsigned v) { memcpy(emu_smem_at(addr), &v, 4); }
static inline uint4 ld_shared_v4(unsigned addr) {
    uint4 v;
    memcpy(&v, emu_smem_at(addr), 16);
    return v;
}

/* ldmatrix .x4: lanes 8i .. 8i+7 give the row addresses of matrix i; register i of lane l holds
 * row l/4, elements 2(l%4), 2(l%4)+1 of matrix i (.trans: column l/4, rows 2(l%4), 2(l%4)+1). */
static inline void emu_ldmatrix(unsigned (&r)[4], unsigned addr, bool trans) {
    unsigned long long mine = addr, all[32];
    emu_warp_exchange(&mine, all);
    const int l = emu_lane(), g = l >> 2, t = l & 3;
    for (int i = 0; i < 4; i++) {
        if (!trans) {
            memcpy(&r[i], emu_smem_at((unsigned)all[8 * i + g]) + 4 * t, 4);
        } else {
            unsigned short lo, hi;
            memcpy(&lo, emu_smem_at((unsigned)all[8 * i + 2 * t]) + 2 * g, 2);
            memcpy(&hi, emu_smem_at((unsigned)all[8 * i + 2 * t + 1]) + 2 * g, 2);
            r[i] = (unsigned)lo | ((unsigned)hi << 16);
        }
    }
}
static inline void ldmatrix_x4(unsigned (&r)[4], unsigned addr) { emu_ldmatrix(r, addr, false); }
static inline void ldmatrix_x4_trans(unsigned (&r)[4], unsigned addr) { emu_ldmatrix(r, addr, true); }

/* mma.sync m16n8k16 row.col, f32 accumulate: lane l (g = l/4, t = l%4) holds
 *   A: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
 *   B: b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g)
 *   C/D: d0 d1 (g, 2t..2t+1), d2 d3 (g+8, 2t..2t+1). */
template <bool BF16>
static inline void emu_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    struct frag { unsigned a[4], b[2]; };
    frag mine;
    memcpy(mine.a, a, sizeof mine.a);
    mine.b[0] = b0;
    mine.b[1] = b1;
    unsigned char all[32 * 64];
    unsigned char mine64[64] = {0};
    memcpy(mine64, &mine, sizeof mine);
    emu_warp_exchange64(mine64, all);
    float A[16][16], B[16][8];
    auto val = [](unsigned short h) { return BF16 ? emu_bf16_value(h) : emu_fp16_value(h); };
    for (int l = 0; l < 32; l++) {
        frag f;
        memcpy(&f, all + 64 * l, sizeof f);
        const int g = l >> 2, t = l & 3;
        const int ar[4] = {g, g + 8, g, g + 8}, ac[4] = {2 * t, 2 * t, 2 * t + 8, 2 * t + 8};
        for (int i = 0; i < 4; i++) {
            A[ar[i]][ac[i]] = val((unsigned short)(f.a[i] & 0xffff));
            A[ar[i]][ac[i] + 1] = val((unsigned short)(f.a[i] >> 16));
        }
        for (int i = 0; i < 2; i++) {
            B[2 * t + 8 * i][g] = val((unsigned short)(f.b[i] & 0xffff));
            B[2 * t + 8 * i + 1][g] = val((unsigned short)(f.b[i] >> 16));
        }
    }
    const int l = emu_lane(), g = l >> 2, t = l & 3;
    const int dr[4] = {g, g, g + 8, g + 8}, dc[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
    for (int i = 0; i < 4; i++) {
        float s = d[i];
        for (int k = 0; k < 16; k++) s += A[dr[i]][k] * B[k][dc[i]];
        d[i] = s;
    }
}
static inline void mma_m16n8k16_fp16(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    emu_mma<false>(d, a, b0, b1);
}
static inline void mma_m16n8k16_bf16(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    emu_mma<true>(d, a, b0, b1);
}

/* The kernels name `uint32_t` themselves (typedef unsigned int uint32_t): <stdint.h> agrees. */
#endif
