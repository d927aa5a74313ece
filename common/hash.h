// The one non-cryptographic 64-bit hash of wideep's checksums (expert weight
// slots after an exchange, the step JSON's output and placement checksums):
// a mix over 8-byte words, folded in order, so equal bytes give equal sums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace wideep {

// Every step is a bijection of h for a fixed w and of w for a fixed h (xor,
// multiply by an odd constant, xor-shift), so two inputs that differ in one
// word always hash differently: a flipped bit is never missed.
inline uint64_t mix64(uint64_t h, uint64_t w) {
  h ^= w;
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

// Continues h over `bytes` bytes at data (the tail word carries its length).
inline uint64_t hash_bytes(uint64_t h, const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (; bytes >= 8; p += 8, bytes -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix64(h, w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, bytes);
  return mix64(h, tail ^ (static_cast<uint64_t>(bytes) << 56));
}

}  // namespace wideep
