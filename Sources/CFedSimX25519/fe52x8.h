// GF(2^255 − 19) arithmetic on eight field elements at once, one per 64-bit lane of a zmm
// register, with AVX-512 IFMA (vpmadd52luq/vpmadd52huq: 52×52-bit products, low or high half,
// added to a 64-bit accumulator).
//
// Why this shape: an element is five radix-2^52 limbs, one register per limb, so a product is
// 25 lo + 25 hi IFMA with no lane crossing (Drucker & Gueron, "Fast modular squaring with
// AVX512IFMA", 2019, use the same radix). IFMA reads only the low 52 bits of its inputs, so
// every multiplication input must be carried first: limbs 0–3 < 2^52, limb 4 < 2^48
// ("normalized"). Sums and differences are carried before they are multiplied.
// Reduction: 2^260 ≡ 2^5 · 19 = 608 (mod p), and at the top 2^255 ≡ 19.
// Everything here is straight-line code: no branch or index depends on the data.
#ifndef FEDSIM_FE52X8_H
#define FEDSIM_FE52X8_H

#include <immintrin.h>
#include <stdint.h>

#define FE_TARGET __attribute__((target("avx512f,avx512ifma")))
#define FE_FN static inline __attribute__((always_inline)) FE_TARGET
/// Fixed-count loops fully unrolled, so that the limbs stay in registers (clang otherwise kept
/// the squaring's triangular loop, with its accumulators on the stack).
#define FE_UNROLL _Pragma("GCC unroll 16")

/// Eight field elements; v[j] holds limb j (weight 2^(52 j)) of each lane.
typedef struct {
    __m512i v[5];
} fe8;

#define FE_M52 0xFFFFFFFFFFFFFULL
#define FE_M47 0x7FFFFFFFFFFFULL

/// Carries limbs below 2^63 into normalized form, the value unchanged mod p: first the bits of
/// limb 4 above 2^255 (× 19 into limb 0), then limb 0 → 1 → 2 → 3 → 4. Limb 4 ends below
/// 2^47 + 2^11 (it receives limb 3's carry), limbs 0–3 below 2^52.
FE_FN void fe_carry(fe8 *r, __m512i s0, __m512i s1, __m512i s2, __m512i s3, __m512i s4) {
    const __m512i m52 = _mm512_set1_epi64((long long)FE_M52), m47 = _mm512_set1_epi64((long long)FE_M47);
    __m512i c = _mm512_srli_epi64(s4, 47);
    s4 = _mm512_and_si512(s4, m47);
    s0 = _mm512_madd52lo_epu64(s0, c, _mm512_set1_epi64(19));
    c = _mm512_srli_epi64(s0, 52);
    s0 = _mm512_and_si512(s0, m52);
    s1 = _mm512_add_epi64(s1, c);
    c = _mm512_srli_epi64(s1, 52);
    s1 = _mm512_and_si512(s1, m52);
    s2 = _mm512_add_epi64(s2, c);
    c = _mm512_srli_epi64(s2, 52);
    s2 = _mm512_and_si512(s2, m52);
    s3 = _mm512_add_epi64(s3, c);
    c = _mm512_srli_epi64(s3, 52);
    s3 = _mm512_and_si512(s3, m52);
    s4 = _mm512_add_epi64(s4, c);
    r->v[0] = s0;
    r->v[1] = s1;
    r->v[2] = s2;
    r->v[3] = s3;
    r->v[4] = s4;
}

/// Folds a 10-limb product t (each limb < 2^58) to five limbs and carries. Limbs 5–9 split into
/// 52 low bits l and a few high bits h; l · 608 goes in by IFMA (lo half at k − 5, hi half at
/// k − 4), h · 608 at k − 4, and what lands at 2^260 again (l9's hi half; h9 at 2^520) once more.
FE_FN void fe_reduce(fe8 *r, __m512i t[10]) {
    const __m512i m52 = _mm512_set1_epi64((long long)FE_M52), c608 = _mm512_set1_epi64(608);
    __m512i l[5], h[5];
    FE_UNROLL
    for (int k = 0; k < 5; k++) {
        l[k] = _mm512_and_si512(t[5 + k], m52);
        h[k] = _mm512_srli_epi64(t[5 + k], 52);
    }
    __m512i s[5] = {t[0], t[1], t[2], t[3], t[4]};
    FE_UNROLL
    for (int j = 0; j < 5; j++) s[j] = _mm512_madd52lo_epu64(s[j], l[j], c608);
    FE_UNROLL
    for (int j = 0; j < 4; j++) {
        s[j + 1] = _mm512_madd52hi_epu64(s[j + 1], l[j], c608);
        s[j + 1] = _mm512_madd52lo_epu64(s[j + 1], h[j], c608);
    }
    __m512i g = _mm512_madd52hi_epu64(_mm512_setzero_si512(), l[4], c608);
    s[0] = _mm512_madd52lo_epu64(s[0], g, c608);
    s[0] = _mm512_madd52lo_epu64(s[0], h[4], _mm512_set1_epi64(608 * 608));
    fe_carry(r, s[0], s[1], s[2], s[3], s[4]);
}

/// r = a · b for normalized a, b. Low and high halves accumulate separately (two shorter
/// dependency chains), then are added.
FE_FN void fe_mul(fe8 *r, const fe8 *a, const fe8 *b) {
    __m512i lo[10], hi[10];
    FE_UNROLL
    for (int k = 0; k < 10; k++) lo[k] = hi[k] = _mm512_setzero_si512();
    FE_UNROLL
    for (int i = 0; i < 5; i++) {
        FE_UNROLL
        for (int j = 0; j < 5; j++) {
            lo[i + j] = _mm512_madd52lo_epu64(lo[i + j], a->v[i], b->v[j]);
            hi[i + j + 1] = _mm512_madd52hi_epu64(hi[i + j + 1], a->v[i], b->v[j]);
        }
    }
    FE_UNROLL
    for (int k = 0; k < 10; k++) lo[k] = _mm512_add_epi64(lo[k], hi[k]);
    fe_reduce(r, lo);
}

/// r = a² for normalized a: the ten cross products once, doubled by a shift, plus the squares.
FE_FN void fe_sq(fe8 *r, const fe8 *a) {
    __m512i x[10], d[10];
    FE_UNROLL
    for (int k = 0; k < 10; k++) x[k] = d[k] = _mm512_setzero_si512();
    FE_UNROLL
    for (int i = 0; i < 5; i++) {
        FE_UNROLL
        for (int j = i + 1; j < 5; j++) {
            x[i + j] = _mm512_madd52lo_epu64(x[i + j], a->v[i], a->v[j]);
            x[i + j + 1] = _mm512_madd52hi_epu64(x[i + j + 1], a->v[i], a->v[j]);
        }
        d[2 * i] = _mm512_madd52lo_epu64(d[2 * i], a->v[i], a->v[i]);
        d[2 * i + 1] = _mm512_madd52hi_epu64(d[2 * i + 1], a->v[i], a->v[i]);
    }
    FE_UNROLL
    for (int k = 0; k < 10; k++) x[k] = _mm512_add_epi64(_mm512_slli_epi64(x[k], 1), d[k]);
    fe_reduce(r, x);
}

/// r = a² repeated n times (n is public: the inversion chain's fixed counts).
FE_FN void fe_sqn(fe8 *r, const fe8 *a, int n) {
    fe_sq(r, a);
    for (int i = 1; i < n; i++) fe_sq(r, r);
}

FE_FN void fe_add(fe8 *r, const fe8 *a, const fe8 *b) {
    fe_carry(r, _mm512_add_epi64(a->v[0], b->v[0]), _mm512_add_epi64(a->v[1], b->v[1]),
             _mm512_add_epi64(a->v[2], b->v[2]), _mm512_add_epi64(a->v[3], b->v[3]),
             _mm512_add_epi64(a->v[4], b->v[4]));
}

/// r = a − b + 2p: 2p's limbs (2^53 − 38, 2^53 − 2 ×3, 2^48 − 2) exceed every normalized
/// limb of b, so no limb goes negative.
FE_FN void fe_sub(fe8 *r, const fe8 *a, const fe8 *b) {
    const __m512i p0 = _mm512_set1_epi64((1LL << 53) - 38), p1 = _mm512_set1_epi64((1LL << 53) - 2),
                  p4 = _mm512_set1_epi64((1LL << 48) - 2);
    fe_carry(r, _mm512_sub_epi64(_mm512_add_epi64(a->v[0], p0), b->v[0]),
             _mm512_sub_epi64(_mm512_add_epi64(a->v[1], p1), b->v[1]),
             _mm512_sub_epi64(_mm512_add_epi64(a->v[2], p1), b->v[2]),
             _mm512_sub_epi64(_mm512_add_epi64(a->v[3], p1), b->v[3]),
             _mm512_sub_epi64(_mm512_add_epi64(a->v[4], p4), b->v[4]));
}

/// r = c · e + a for normalized e, a and a small constant c < 2^20 (the ladder's a24 = 121665):
/// c · e_j's halves go to limbs j and j + 1; limb 4's high half lands at 2^260 (× 608).
FE_FN void fe_mul_small_add(fe8 *r, const fe8 *e, uint64_t c, const fe8 *a) {
    const __m512i k = _mm512_set1_epi64((long long)c);
    __m512i s[5];
    FE_UNROLL
    for (int j = 0; j < 5; j++) s[j] = _mm512_madd52lo_epu64(a->v[j], e->v[j], k);
    FE_UNROLL
    for (int j = 0; j < 4; j++) s[j + 1] = _mm512_madd52hi_epu64(s[j + 1], e->v[j], k);
    __m512i g = _mm512_madd52hi_epu64(_mm512_setzero_si512(), e->v[4], k);
    s[0] = _mm512_madd52lo_epu64(s[0], g, _mm512_set1_epi64(608));
    fe_carry(r, s[0], s[1], s[2], s[3], s[4]);
}

/// Swaps a and b in the lanes whose mask is all ones (and leaves those with mask 0): a masked
/// XOR, so the lanes' scalar bits select without a branch or a secret-dependent address.
FE_FN void fe_cswap(fe8 *a, fe8 *b, __m512i mask) {
    FE_UNROLL
    for (int j = 0; j < 5; j++) {
        __m512i d = _mm512_and_si512(_mm512_xor_si512(a->v[j], b->v[j]), mask);
        a->v[j] = _mm512_xor_si512(a->v[j], d);
        b->v[j] = _mm512_xor_si512(b->v[j], d);
    }
}

#endif
