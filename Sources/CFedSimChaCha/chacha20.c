// ChaCha20 (RFC 8439) keystream for SecAgg+ mask expansion, 16 blocks at a time with AVX-512.
//
// Why: expanding pairwise masks is about a third of a SecAgg+ round, and libsodium 1.0.18 stops
// at AVX2. The keystream is the same function of (key, nonce, counter) as libsodium's, so every
// mask, wire byte and golden output is unchanged; tests compare the two over many lengths.
// Each of the 16 vector lanes computes one block (counter = base + lane); the 16×16 word
// transpose then puts each block's words in order, and they are stored or added in place,
// so the keystream never passes through a separate buffer.
#include "CFedSimChaCha.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define FEDSIM_CHACHA_X86 1
#endif

static uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#ifdef FEDSIM_CHACHA_X86

int fedsim_chacha20_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

#define AVX512 __attribute__((target("avx512f")))

#define QR(a, b, c, d)                                                                                                 \
    a = _mm512_add_epi32(a, b);                                                                                        \
    d = _mm512_rol_epi32(_mm512_xor_si512(d, a), 16);                                                                  \
    c = _mm512_add_epi32(c, d);                                                                                        \
    b = _mm512_rol_epi32(_mm512_xor_si512(b, c), 12);                                                                  \
    a = _mm512_add_epi32(a, b);                                                                                        \
    d = _mm512_rol_epi32(_mm512_xor_si512(d, a), 8);                                                                   \
    c = _mm512_add_epi32(c, d);                                                                                        \
    b = _mm512_rol_epi32(_mm512_xor_si512(b, c), 7);

/// Sixteen consecutive blocks from `counter`: out[16 * l + j] is word j of block counter + l.
AVX512 static void blocks16(const uint32_t state[16], uint32_t counter, __m512i out[16]) {
    __m512i x[16], s[16];
    for (int j = 0; j < 16; j++) s[j] = _mm512_set1_epi32((int)state[j]);
    s[12] = _mm512_add_epi32(_mm512_set1_epi32((int)counter),
                             _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    for (int j = 0; j < 16; j++) x[j] = s[j];
    for (int i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]) QR(x[1], x[5], x[9], x[13]) QR(x[2], x[6], x[10], x[14])
        QR(x[3], x[7], x[11], x[15]) QR(x[0], x[5], x[10], x[15]) QR(x[1], x[6], x[11], x[12])
        QR(x[2], x[7], x[8], x[13]) QR(x[3], x[4], x[9], x[14])
    }
    for (int j = 0; j < 16; j++) x[j] = _mm512_add_epi32(x[j], s[j]);
    // Transpose: within each 128-bit lane k, u[4g + r] holds words 4g..4g+3 of block 4k + r.
    __m512i u[16];
    for (int g = 0; g < 4; g++) {
        __m512i t0 = _mm512_unpacklo_epi32(x[4 * g], x[4 * g + 1]);
        __m512i t1 = _mm512_unpackhi_epi32(x[4 * g], x[4 * g + 1]);
        __m512i t2 = _mm512_unpacklo_epi32(x[4 * g + 2], x[4 * g + 3]);
        __m512i t3 = _mm512_unpackhi_epi32(x[4 * g + 2], x[4 * g + 3]);
        u[4 * g + 0] = _mm512_unpacklo_epi64(t0, t2);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t0, t2);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t1, t3);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t1, t3);
    }
    // Then a 4×4 transpose of 128-bit lanes gathers block 4k + r from u[r], u[4+r], u[8+r], u[12+r].
    for (int r = 0; r < 4; r++) {
        __m512i a = _mm512_shuffle_i32x4(u[r], u[4 + r], 0x44);
        __m512i b = _mm512_shuffle_i32x4(u[r], u[4 + r], 0xEE);
        __m512i c = _mm512_shuffle_i32x4(u[8 + r], u[12 + r], 0x44);
        __m512i d = _mm512_shuffle_i32x4(u[8 + r], u[12 + r], 0xEE);
        out[r] = _mm512_shuffle_i32x4(a, c, 0x88);
        out[4 + r] = _mm512_shuffle_i32x4(a, c, 0xDD);
        out[8 + r] = _mm512_shuffle_i32x4(b, d, 0x88);
        out[12 + r] = _mm512_shuffle_i32x4(b, d, 0xDD);
    }
}

AVX512 static void combine(uint32_t *w, __m512i k, int mode) {
    if (mode == FEDSIM_CHACHA_STORE) {
        _mm512_storeu_si512((void *)w, k);
    } else {
        __m512i v = _mm512_loadu_si512((const void *)w);
        v = mode == FEDSIM_CHACHA_ADD ? _mm512_add_epi32(v, k) : _mm512_sub_epi32(v, k);
        _mm512_storeu_si512((void *)w, v);
    }
}

AVX512 void fedsim_chacha20_words(uint32_t *words, size_t count, const uint8_t key[32], const uint8_t nonce[12],
                                  int mode) {
    uint32_t state[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
    for (int j = 0; j < 8; j++) state[4 + j] = load_le32(key + 4 * j);
    state[12] = 0;
    for (int j = 0; j < 3; j++) state[13 + j] = load_le32(nonce + 4 * j);
    uint32_t counter = 0;
    __m512i out[16];
    size_t i = 0;
    for (; i + 256 <= count; i += 256, counter += 16) {
        blocks16(state, counter, out);
        for (int l = 0; l < 16; l++) combine(words + i + 16 * l, out[l], mode);
    }
    if (i < count) {  // the last partial batch goes through a small buffer
        uint32_t tail[256];
        blocks16(state, counter, out);
        for (int l = 0; l < 16; l++) _mm512_storeu_si512((void *)(tail + 16 * l), out[l]);
        size_t n = count - i;
        if (mode == FEDSIM_CHACHA_STORE) {
            memcpy(words + i, tail, n * sizeof(uint32_t));
        } else if (mode == FEDSIM_CHACHA_ADD) {
            for (size_t j = 0; j < n; j++) words[i + j] += tail[j];
        } else {
            for (size_t j = 0; j < n; j++) words[i + j] -= tail[j];
        }
    }
}

#else

int fedsim_chacha20_available(void) { return 0; }

void fedsim_chacha20_words(uint32_t *words, size_t count, const uint8_t key[32], const uint8_t nonce[12], int mode) {
    (void)words, (void)count, (void)key, (void)nonce, (void)mode;
    __builtin_trap();  // callers check fedsim_chacha20_available() first
}

#endif
