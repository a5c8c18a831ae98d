// X25519 (RFC 7748) for eight scalar multiplications at once with AVX-512 IFMA.
//
// Why: SecAgg+ agrees a key with every neighbour (k ≈ 48 per device in an evaluation round), and
// libsodium computes them one at a time; they are independent, so eight share the vector lanes.
// The function is RFC 7748's X25519 exactly — same clamping, same handling of the top bit and of
// u-coordinates ≥ p, same output bytes — so keys, wire bytes and golden outputs do not change;
// tests compare it with libsodium's crypto_scalarmult. Constant time in the scalars: the
// Montgomery ladder's swaps are masked XORs, every scalar runs all 255 steps, the inversion is a
// fixed exponentiation chain, and no branch or address depends on a scalar or a point.
#include "CFedSimX25519.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define FEDSIM_X25519_X86 1
#include "fe52x8.h"
#endif

#ifdef FEDSIM_X25519_X86

int fedsim_x25519_available(void) {
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma")) ? 1 : 0;
}

static uint64_t load_le64(const uint8_t *b) {
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--) w = (w << 8) | b[i];
    return w;
}

static void store_le64(uint8_t *b, uint64_t w) {
    FE_UNROLL
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(w >> (8 * i));
}

/// One group's inputs, split per lane: the clamped scalars' 64-bit words and the u-coordinates'
/// 52-bit limbs, laid out so that word (or limb) j of all eight lanes is one vector load.
typedef struct {
    uint64_t k[4][8];
    uint64_t u[5][8];
} group_in;

/// RFC 7748 decodeScalar25519 (clear bits 0–2 and 255, set 254) and decodeUCoordinate (clear
/// bit 255; a value ≥ p is kept, the arithmetic reduces it), for lane `l`.
static void load_lane(group_in *g, int l, const uint8_t n[32], const uint8_t p[32]) {
    uint8_t s[32];
    memcpy(s, n, 32);
    s[0] &= 248;
    s[31] &= 127;
    s[31] |= 64;
    FE_UNROLL
    for (int w = 0; w < 4; w++) g->k[w][l] = load_le64(s + 8 * w);
    uint64_t w0 = load_le64(p), w1 = load_le64(p + 8), w2 = load_le64(p + 16), w3 = load_le64(p + 24);
    w3 &= 0x7FFFFFFFFFFFFFFFULL;
    g->u[0][l] = w0 & FE_M52;
    g->u[1][l] = ((w0 >> 52) | (w1 << 12)) & FE_M52;
    g->u[2][l] = ((w1 >> 40) | (w2 << 24)) & FE_M52;
    g->u[3][l] = ((w2 >> 28) | (w3 << 36)) & FE_M52;
    g->u[4][l] = w3 >> 16;
    memset(s, 0, sizeof s);
}

/// z^(p − 2) = z^(2^255 − 21), the inverse (and 0 for 0), by the usual fixed chain of 254
/// squarings and 11 multiplications.
FE_TARGET static void fe_invert(fe8 *out, const fe8 *z) {
    fe8 z2, z9, z11, t, a, b, c;
    fe_sq(&z2, z);            // z^2
    fe_sqn(&t, &z2, 2);       // z^8
    fe_mul(&z9, &t, z);       // z^9
    fe_mul(&z11, &z9, &z2);   // z^11
    fe_sq(&t, &z11);          // z^22
    fe_mul(&a, &t, &z9);      // z^(2^5 − 1)
    fe_sqn(&t, &a, 5);
    fe_mul(&b, &t, &a);       // z^(2^10 − 1)
    fe_sqn(&t, &b, 10);
    fe_mul(&c, &t, &b);       // z^(2^20 − 1)
    fe_sqn(&t, &c, 20);
    fe_mul(&t, &t, &c);       // z^(2^40 − 1)
    fe_sqn(&t, &t, 10);
    fe_mul(&a, &t, &b);       // z^(2^50 − 1)
    fe_sqn(&t, &a, 50);
    fe_mul(&b, &t, &a);       // z^(2^100 − 1)
    fe_sqn(&t, &b, 100);
    fe_mul(&t, &t, &b);       // z^(2^200 − 1)
    fe_sqn(&t, &t, 50);
    fe_mul(&t, &t, &a);       // z^(2^250 − 1)
    fe_sqn(&t, &t, 5);        // z^(2^255 − 32)
    fe_mul(out, &t, &z11);    // z^(2^255 − 21)
}

/// The Montgomery ladder of RFC 7748 section 5 on all eight lanes; returns x_2 / z_2 as (x, z).
FE_TARGET static void ladder(fe8 *x2, fe8 *z2, const group_in *g) {
    fe8 x1, x3, z3, a, aa, b, bb, e, c, d, da, cb, t;
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1);
    FE_UNROLL
    for (int j = 0; j < 5; j++) {
        x1.v[j] = _mm512_loadu_si512((const void *)g->u[j]);
        x2->v[j] = z2->v[j] = z3.v[j] = zero;
    }
    x2->v[0] = z3.v[0] = one;
    x3 = x1;
    __m512i swap = zero;
    for (int i = 254; i >= 0; i--) {
        // Bit i of each lane's scalar: a load and a shift chosen by the public loop index.
        __m512i k = _mm512_loadu_si512((const void *)g->k[i >> 6]);
        __m512i bit = _mm512_and_si512(_mm512_srli_epi64(k, (unsigned)(i & 63)), one);
        __m512i mask = _mm512_sub_epi64(zero, _mm512_xor_si512(swap, bit));
        fe_cswap(x2, &x3, mask);
        fe_cswap(z2, &z3, mask);
        swap = bit;
        fe_add(&a, x2, z2);
        fe_sub(&b, x2, z2);
        fe_add(&c, &x3, &z3);
        fe_sub(&d, &x3, &z3);
        fe_sq(&aa, &a);
        fe_sq(&bb, &b);
        fe_mul(&da, &d, &a);
        fe_mul(&cb, &c, &b);
        fe_sub(&e, &aa, &bb);
        fe_add(&t, &da, &cb);
        fe_sq(&x3, &t);
        fe_sub(&t, &da, &cb);
        fe_sq(&t, &t);
        fe_mul(&z3, &x1, &t);
        fe_mul(x2, &aa, &bb);
        fe_mul_small_add(&t, &e, 121665, &aa);
        fe_mul(z2, &e, &t);
    }
    __m512i mask = _mm512_sub_epi64(zero, swap);
    fe_cswap(x2, &x3, mask);
    fe_cswap(z2, &z3, mask);
}

/// The canonical value in [0, p) of a normalized element, lane by lane, as 32 little-endian bytes.
FE_TARGET static void fe_store(uint8_t out[8][32], const fe8 *f) {
    const __m512i m52 = _mm512_set1_epi64((long long)FE_M52), m47 = _mm512_set1_epi64((long long)FE_M47),
                  n19 = _mm512_set1_epi64(19);
    fe8 r;
    // One more carry leaves the value below 2^255 (limb 4 < 2^47).
    fe_carry(&r, f->v[0], f->v[1], f->v[2], f->v[3], f->v[4]);
    fe_carry(&r, r.v[0], r.v[1], r.v[2], r.v[3], r.v[4]);
    // q = 1 exactly when value + 19 ≥ 2^255, i.e. value ≥ p; then value − p = value + 19 − 2^255.
    __m512i c = _mm512_add_epi64(r.v[0], n19);
    FE_UNROLL
    for (int j = 1; j < 5; j++) c = _mm512_add_epi64(r.v[j], _mm512_srli_epi64(c, 52));
    __m512i q = _mm512_srli_epi64(c, 47);
    __m512i s[5];
    s[0] = _mm512_madd52lo_epu64(r.v[0], q, n19);
    FE_UNROLL
    for (int j = 0; j < 4; j++) {
        s[j + 1] = _mm512_add_epi64(r.v[j + 1], _mm512_srli_epi64(s[j], 52));
        s[j] = _mm512_and_si512(s[j], m52);
    }
    s[4] = _mm512_and_si512(s[4], m47);
    uint64_t l[5][8];
    FE_UNROLL
    for (int j = 0; j < 5; j++) _mm512_storeu_si512((void *)l[j], s[j]);
    for (int lane = 0; lane < 8; lane++) {
        store_le64(out[lane], l[0][lane] | (l[1][lane] << 52));
        store_le64(out[lane] + 8, (l[1][lane] >> 12) | (l[2][lane] << 40));
        store_le64(out[lane] + 16, (l[2][lane] >> 24) | (l[3][lane] << 28));
        store_le64(out[lane] + 24, (l[3][lane] >> 36) | (l[4][lane] << 16));
    }
}

FE_TARGET static void group8(uint8_t out[8][32], const group_in *g) {
    fe8 x2, z2, zi, x;
    ladder(&x2, &z2, g);
    fe_invert(&zi, &z2);
    fe_mul(&x, &x2, &zi);
    fe_store(out, &x);
}

void fedsim_x25519_batch(uint8_t *q, const uint8_t *n, const uint8_t *p, size_t count, int *status) {
    // A padding lane's inputs: a public dummy (scalar 0, which clamping makes 2^254; u = 9).
    static const uint8_t pad_n[32] = {0}, pad_p[32] = {9};
    group_in g;
    uint8_t out[8][32];
    for (size_t base = 0; base < count; base += 8) {
        size_t m = count - base < 8 ? count - base : 8;
        for (size_t l = 0; l < 8; l++) {
            if (l < m) load_lane(&g, (int)l, n + 32 * (base + l), p + 32 * (base + l));
            else load_lane(&g, (int)l, pad_n, pad_p);
        }
        group8(out, &g);
        for (size_t l = 0; l < m; l++) {
            // libsodium's zero test: OR every byte, no early exit.
            uint8_t d = 0;
            for (int i = 0; i < 32; i++) d |= out[l][i];
            memcpy(q + 32 * (base + l), out[l], 32);
            status[base + l] = -(int)(1 & ((unsigned)(d - 1) >> 8));
        }
    }
    memset(&g, 0, sizeof g);
    memset(out, 0, sizeof out);
}

#else

int fedsim_x25519_available(void) { return 0; }

void fedsim_x25519_batch(uint8_t *q, const uint8_t *n, const uint8_t *p, size_t count, int *status) {
    (void)q, (void)n, (void)p, (void)count, (void)status;
    __builtin_trap();
}

#endif
