// AES-128-CTR keystream for SecAgg+ mask expansion (`secure_aggregation.prg: aes128ctr`).
//
// Why: with the hardware's AES instructions a block costs a fraction of a ChaCha20 block, and
// mask expansion is a tenth of a SecAgg+ round (docs/performance.md has the same-run ratio).
// Three implementations give the same words, so devices on different CPUs still cancel masks:
//  - VAES on 512-bit registers: 32 counter blocks in flight (8 registers of 4 blocks), which
//    covers the instruction's latency;
//  - AES-NI: 8 blocks in flight;
//  - portable C for CPUs without either: constant time (no table lookups: the S-box is the
//    GF(2^8) inverse x^254 and the affine map, on 8 bytes at once in a 64-bit word). It is
//    slow, and exists so a scenario that names aes128ctr runs everywhere.
// The counter block is incremented as one 128-bit big-endian integer (SP 800-38A, appendix B.1),
// and the keystream bytes are read as little-endian 32-bit words, as CFedSimChaCha does.
#include "CFedSimAES.h"

#include <string.h>

#include "aes_internal.h"

// MARK: portable AES (constant time, 8 S-boxes per 64-bit word)

static const uint64_t ONES = 0x0101010101010101ULL;

static uint64_t xtime8(uint64_t a) { return ((a & 0x7f7f7f7f7f7f7f7fULL) << 1) ^ (((a >> 7) & ONES) * 0x1b); }

/// Eight GF(2^8) products (AES polynomial) at once, without branches on the operands.
static uint64_t gmul8(uint64_t a, uint64_t b) {
    uint64_t r = 0;
    for (int i = 0; i < 8; i++) {
        r ^= a & (((b >> i) & ONES) * 0xff);
        a = xtime8(a);
    }
    return r;
}

static uint64_t rotl8(uint64_t x, int n) {
    uint64_t high = ONES * ((0xffu << n) & 0xffu), low = ONES * ((1u << n) - 1);
    return ((x << n) & high) | ((x >> (8 - n)) & low);
}

/// The AES S-box on each byte of `x`: the inverse x^254 (0 ↦ 0), then the affine map.
static uint64_t sbox8(uint64_t x) {
    uint64_t x2 = gmul8(x, x), x3 = gmul8(x2, x), x6 = gmul8(x3, x3), x12 = gmul8(x6, x6);
    uint64_t x15 = gmul8(x12, x3), y = gmul8(x15, x15);  // x^30
    y = gmul8(y, y);                                      // x^60
    y = gmul8(y, y);                                      // x^120
    y = gmul8(y, y);                                      // x^240
    uint64_t inv = gmul8(gmul8(y, x12), x2);              // x^254
    return inv ^ rotl8(inv, 1) ^ rotl8(inv, 2) ^ rotl8(inv, 3) ^ rotl8(inv, 4) ^ (ONES * 0x63);
}

static void sub_bytes(uint8_t s[16]) {
    uint64_t a, b;
    memcpy(&a, s, 8), memcpy(&b, s + 8, 8);
    a = sbox8(a), b = sbox8(b);
    memcpy(s, &a, 8), memcpy(s + 8, &b, 8);
}

/// FIPS-197 key expansion: 11 round keys of 16 bytes.
static void expand_key_portable(const uint8_t key[16], uint8_t rk[176]) {
    memcpy(rk, key, 16);
    uint8_t rcon = 1;
    for (int i = 16; i < 176; i += 4) {
        uint8_t t[8] = {rk[i - 4], rk[i - 3], rk[i - 2], rk[i - 1], 0, 0, 0, 0};
        if (i % 16 == 0) {
            uint8_t r[8] = {t[1], t[2], t[3], t[0], 0, 0, 0, 0};
            uint64_t w;
            memcpy(&w, r, 8);
            w = sbox8(w);
            memcpy(t, &w, 8);
            t[0] ^= rcon;
            rcon = (uint8_t)((rcon << 1) ^ ((rcon >> 7) * 0x1b));
        }
        for (int j = 0; j < 4; j++) rk[i + j] = rk[i - 16 + j] ^ t[j];
    }
}

static uint8_t xt(uint8_t a) { return (uint8_t)((a << 1) ^ ((a >> 7) * 0x1b)); }

static void encrypt_portable(const uint8_t rk[176], const uint8_t in[16], uint8_t out[16]) {
    uint8_t s[16], t[16];
    for (int i = 0; i < 16; i++) s[i] = in[i] ^ rk[i];
    for (int round = 1; round <= 10; round++) {
        sub_bytes(s);
        for (int c = 0; c < 4; c++)  // ShiftRows: row r moves left by r columns
            for (int r = 0; r < 4; r++) t[r + 4 * c] = s[r + 4 * ((c + r) % 4)];
        if (round < 10) {
            for (int c = 0; c < 4; c++) {  // MixColumns
                uint8_t *a = t + 4 * c, all = a[0] ^ a[1] ^ a[2] ^ a[3], a0 = a[0];
                a[0] ^= all ^ xt(a[0] ^ a[1]);
                a[1] ^= all ^ xt(a[1] ^ a[2]);
                a[2] ^= all ^ xt(a[2] ^ a[3]);
                a[3] ^= all ^ xt(a[3] ^ a0);
            }
        }
        for (int i = 0; i < 16; i++) s[i] = t[i] ^ rk[16 * round + i];
    }
    memcpy(out, s, 16);
}

// MARK: counter blocks and combining

static uint64_t load_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

static void store_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/// Counter block number `j` after (hi, lo), as bytes.
void fedsim_aes_counter_block(uint64_t hi, uint64_t lo, uint64_t j, uint8_t out[16]) {
    uint64_t l = lo + j;
    store_be64(out, hi + (l < lo)), store_be64(out + 8, l);
}

void fedsim_aes_combine_tail(uint32_t *w, const uint32_t *k, size_t n, int mode) {
    if (mode == FEDSIM_AES_STORE) {
        memcpy(w, k, n * sizeof(uint32_t));
    } else if (mode == FEDSIM_AES_ADD) {
        for (size_t j = 0; j < n; j++) w[j] += k[j];
    } else {
        for (size_t j = 0; j < n; j++) w[j] -= k[j];
    }
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void words_portable(uint32_t *w, size_t count, const uint8_t key[16], uint64_t hi, uint64_t lo, int mode) {
    uint8_t rk[176], block[16], ks[16];
    uint32_t k[4];
    expand_key_portable(key, rk);
    for (size_t i = 0, j = 0; i < count; i += 4, j++) {
        fedsim_aes_counter_block(hi, lo, j, block);
        encrypt_portable(rk, block, ks);
        for (int q = 0; q < 4; q++) k[q] = le32(ks + 4 * q);
        fedsim_aes_combine_tail(w + i, k, count - i < 4 ? count - i : 4, mode);
    }
    volatile uint8_t *z = rk;
    for (int i = 0; i < 176; i++) z[i] = 0;
}


void fedsim_aes128ctr_words(uint32_t *words, size_t count, const uint8_t key[16], const uint8_t counter[16], int mode,
                            int impl) {
    int best = fedsim_aes_best();
    if (impl < 0 || impl > best) impl = best;
    uint64_t hi = load_be64(counter), lo = load_be64(counter + 8);
#if FEDSIM_AES_X86
    if (impl == FEDSIM_AES_VAES512) return fedsim_aes_words_vaes512(words, count, key, hi, lo, mode);
    if (impl == FEDSIM_AES_NI) return fedsim_aes_words_aesni(words, count, key, hi, lo, mode);
#endif
    words_portable(words, count, key, hi, lo, mode);
}
