#ifndef FEDSIM_CHACHA_H
#define FEDSIM_CHACHA_H

#include <stddef.h>
#include <stdint.h>

/// How `fedsim_chacha20_words` combines the keystream with `words`.
enum fedsim_chacha_mode { FEDSIM_CHACHA_STORE = 0, FEDSIM_CHACHA_ADD = 1, FEDSIM_CHACHA_SUBTRACT = 2 };

/// 1 when this CPU runs the 16-block AVX-512 ChaCha20 below, else 0 (callers then use libsodium).
int fedsim_chacha20_available(void);

/// The IETF ChaCha20 keystream (RFC 8439: 32-byte key, 96-bit nonce, 32-bit block counter from 0)
/// read as `count` little-endian 32-bit words, stored into, added to or subtracted from `words`
/// (wrapping). The keystream is byte-for-byte libsodium's `crypto_stream_chacha20_ietf`; only
/// call it when `fedsim_chacha20_available()` returns 1. `count` ≤ 2^36 words (the counter's range).
void fedsim_chacha20_words(uint32_t *words, size_t count, const uint8_t key[32], const uint8_t nonce[12], int mode);

#endif
