// Shared between the portable AES-128-CTR (aes128ctr.c) and the x86 implementations (aes_x86.c).
#ifndef FEDSIM_AES_INTERNAL_H
#define FEDSIM_AES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define FEDSIM_AES_X86 1
#else
#define FEDSIM_AES_X86 0
#endif

/// Counter block number `j` after the block (hi, lo): the 128-bit big-endian sum, as bytes.
void fedsim_aes_counter_block(uint64_t hi, uint64_t lo, uint64_t j, uint8_t out[16]);

/// Stores, adds or subtracts `n` keystream words `k` into `w` (the mode of the public API).
void fedsim_aes_combine_tail(uint32_t *w, const uint32_t *k, size_t n, int mode);

#if FEDSIM_AES_X86
void fedsim_aes_words_aesni(uint32_t *w, size_t count, const uint8_t key[16], uint64_t hi, uint64_t lo, int mode);
void fedsim_aes_words_vaes512(uint32_t *w, size_t count, const uint8_t key[16], uint64_t hi, uint64_t lo, int mode);
#endif

#endif
