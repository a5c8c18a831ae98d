#ifndef FEDSIM_AES_H
#define FEDSIM_AES_H

#include <stddef.h>
#include <stdint.h>

/// How `fedsim_aes128ctr_words` combines the keystream with `words` (the values of
/// CFedSimChaCha's modes).
enum fedsim_aes_mode { FEDSIM_AES_STORE = 0, FEDSIM_AES_ADD = 1, FEDSIM_AES_SUBTRACT = 2 };

/// Implementations, fastest first. `fedsim_aes_best()` says which this CPU runs.
enum fedsim_aes_impl {
    FEDSIM_AES_PORTABLE = 0,  // constant-time C (SWAR GF(2^8) inversion), any CPU; slow
    FEDSIM_AES_NI = 1,        // AES-NI, eight 128-bit blocks in flight
    FEDSIM_AES_VAES512 = 2    // VAES on 512-bit registers (AVX-512F), 32 blocks in flight
};

/// The fastest implementation this CPU supports (checked once, at the first call).
int fedsim_aes_best(void);

/// The AES-128-CTR keystream of NIST SP 800-38A (the 16-byte counter block `counter` encrypted,
/// then incremented as one 128-bit big-endian integer per block), read as `count` little-endian
/// 32-bit words, stored into, added to or subtracted from `words` (wrapping). `impl` picks the
/// implementation (≤ `fedsim_aes_best()`; all give the same words); −1 means the best.
void fedsim_aes128ctr_words(uint32_t *words, size_t count, const uint8_t key[16], const uint8_t counter[16], int mode,
                            int impl);

#endif
