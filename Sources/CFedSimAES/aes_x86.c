// AES-128-CTR with AES-NI (8 blocks in flight) and with VAES on 512-bit registers (32 blocks in
// flight). Both compute exactly what the portable code in aes128ctr.c computes; tests compare
// all three over many lengths and counters, and against FIPS-197 and SP 800-38A.
#include "CFedSimAES.h"
#include "aes_internal.h"

#include <string.h>

#if FEDSIM_AES_X86
#include <immintrin.h>

int fedsim_aes_best(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("vaes") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        return FEDSIM_AES_VAES512;
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1") ? FEDSIM_AES_NI : FEDSIM_AES_PORTABLE;
}

#define AESNI __attribute__((target("aes,sse4.1")))
#define VAES __attribute__((target("aes,sse4.1,avx512f,avx512bw,vaes")))

AESNI static __m128i expand_step(__m128i k, __m128i t) {
    t = _mm_shuffle_epi32(t, 0xff);
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
    return _mm_xor_si128(k, t);
}

#define STEP(i, rcon) rk[i] = expand_step(rk[i - 1], _mm_aeskeygenassist_si128(rk[i - 1], rcon))

/// FIPS-197 key expansion by AESKEYGENASSIST (the same round keys as the portable expansion).
AESNI static void expand_key(const uint8_t key[16], __m128i rk[11]) {
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    STEP(1, 0x01), STEP(2, 0x02), STEP(3, 0x04), STEP(4, 0x08), STEP(5, 0x10);
    STEP(6, 0x20), STEP(7, 0x40), STEP(8, 0x80), STEP(9, 0x1b), STEP(10, 0x36);
}

AESNI static void wipe(__m128i rk[11]) {
    volatile __m128i *z = rk;
    for (int i = 0; i < 11; i++) z[i] = _mm_setzero_si128();
}

AESNI static __m128i counter128(uint64_t hi, uint64_t lo, uint64_t j) {
    uint64_t l = lo + j, h = hi + (l < lo);
    return _mm_set_epi64x((long long)__builtin_bswap64(l), (long long)__builtin_bswap64(h));
}

/// Keystream blocks j … j + 7 into `out` (32 words).
AESNI static void blocks8(const __m128i rk[11], uint64_t hi, uint64_t lo, uint64_t j, __m128i out[8]) {
    for (int q = 0; q < 8; q++) out[q] = _mm_xor_si128(counter128(hi, lo, j + (uint64_t)q), rk[0]);
    for (int r = 1; r < 10; r++)
        for (int q = 0; q < 8; q++) out[q] = _mm_aesenc_si128(out[q], rk[r]);
    for (int q = 0; q < 8; q++) out[q] = _mm_aesenclast_si128(out[q], rk[10]);
}

AESNI void fedsim_aes_words_aesni(uint32_t *w, size_t count, const uint8_t key[16], uint64_t hi, uint64_t lo,
                                  int mode) {
    __m128i rk[11], b[8];
    expand_key(key, rk);
    size_t i = 0;
    uint64_t j = 0;
    for (; i + 32 <= count; i += 32, j += 8) {
        blocks8(rk, hi, lo, j, b);
        for (int q = 0; q < 8; q++) {
            __m128i *p = (__m128i *)(w + i + 4 * q), v = b[q];
            if (mode != FEDSIM_AES_STORE) {
                __m128i x = _mm_loadu_si128(p);
                v = mode == FEDSIM_AES_ADD ? _mm_add_epi32(x, v) : _mm_sub_epi32(x, v);
            }
            _mm_storeu_si128(p, v);
        }
    }
    if (i < count) {
        uint32_t tail[32];
        blocks8(rk, hi, lo, j, b);
        for (int q = 0; q < 8; q++) _mm_storeu_si128((__m128i *)(tail + 4 * q), b[q]);
        fedsim_aes_combine_tail(w + i, tail, count - i, mode);
    }
    wipe(rk);
}

/// Counter blocks j … j + 31, four to a register: the 128-bit big-endian increments done on
/// the low 64 bits in vector lanes when they cannot carry, else block by block.
VAES static void counters32(uint64_t hi, uint64_t lo, uint64_t j, __m512i v[8]) {
    uint64_t l = lo + j, h = hi + (l < lo);
    if (l <= UINT64_MAX - 31) {
        const __m512i swap = _mm512_broadcast_i32x4(_mm_setr_epi8(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8));
        const __m512i four = _mm512_set_epi64(4, 0, 4, 0, 4, 0, 4, 0);
        __m512i c = _mm512_set_epi64((long long)(l + 3), (long long)h, (long long)(l + 2), (long long)h,
                                     (long long)(l + 1), (long long)h, (long long)l, (long long)h);
        for (int q = 0; q < 8; q++, c = _mm512_add_epi64(c, four)) v[q] = _mm512_shuffle_epi8(c, swap);
        return;
    }
    uint8_t bytes[512];
    for (int b = 0; b < 32; b++) fedsim_aes_counter_block(hi, lo, j + (uint64_t)b, bytes + 16 * b);
    for (int q = 0; q < 8; q++) v[q] = _mm512_loadu_si512((const void *)(bytes + 64 * q));
}

VAES static void blocks32(const __m512i rk[11], uint64_t hi, uint64_t lo, uint64_t j, __m512i x[8]) {
    counters32(hi, lo, j, x);
    for (int q = 0; q < 8; q++) x[q] = _mm512_xor_si512(x[q], rk[0]);
    for (int r = 1; r < 10; r++)
        for (int q = 0; q < 8; q++) x[q] = _mm512_aesenc_epi128(x[q], rk[r]);
    for (int q = 0; q < 8; q++) x[q] = _mm512_aesenclast_epi128(x[q], rk[10]);
}

VAES void fedsim_aes_words_vaes512(uint32_t *w, size_t count, const uint8_t key[16], uint64_t hi, uint64_t lo,
                                   int mode) {
    __m128i rk128[11];
    __m512i rk[11], x[8];
    expand_key(key, rk128);
    for (int r = 0; r < 11; r++) rk[r] = _mm512_broadcast_i32x4(rk128[r]);
    size_t i = 0;
    uint64_t j = 0;
    for (; i + 128 <= count; i += 128, j += 32) {
        blocks32(rk, hi, lo, j, x);
        for (int q = 0; q < 8; q++) {
            void *p = w + i + 16 * q;
            __m512i v = x[q];
            if (mode != FEDSIM_AES_STORE) {
                __m512i y = _mm512_loadu_si512(p);
                v = mode == FEDSIM_AES_ADD ? _mm512_add_epi32(y, v) : _mm512_sub_epi32(y, v);
            }
            _mm512_storeu_si512(p, v);
        }
    }
    if (i < count) {
        uint32_t tail[128];
        blocks32(rk, hi, lo, j, x);
        for (int q = 0; q < 8; q++) _mm512_storeu_si512((void *)(tail + 16 * q), x[q]);
        fedsim_aes_combine_tail(w + i, tail, count - i, mode);
    }
    wipe(rk128);
    volatile __m512i *z = rk;
    for (int r = 0; r < 11; r++) z[r] = _mm512_setzero_si512();
}

#else

int fedsim_aes_best(void) { return FEDSIM_AES_PORTABLE; }

#endif
