#ifndef FEDSIM_X25519_H
#define FEDSIM_X25519_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU runs the 8-way AVX-512 IFMA X25519 below, else 0 (callers then use
/// libsodium's crypto_scalarmult).
int fedsim_x25519_available(void);

/// `count` independent X25519 scalar multiplications (RFC 7748 section 5): q[i] = X25519(n[i], p[i])
/// for the 32-byte scalars n (clamped here, as the RFC says) and u-coordinates p (the top bit
/// ignored, values ≥ 2^255 − 19 reduced), 32 bytes each, packed back to back. status[i] is 0, or
/// −1 when q[i] is all zero (a low-order p[i]) — exactly libsodium's crypto_scalarmult return
/// value and output bytes. Eight run at once, one per 64-bit vector lane; a last group of fewer
/// than eight is padded with a public dummy. Constant time in the scalars. Only call it when
/// `fedsim_x25519_available()` returns 1.
void fedsim_x25519_batch(uint8_t *q, const uint8_t *n, const uint8_t *p, size_t count, int *status);

#endif
