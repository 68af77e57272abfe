// One float per "vector": the portable target. No intrinsics, builds on any CPU.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "simd/lanes.h"

namespace fastoptim {
namespace FO_TARGET {

struct Vec {
  static constexpr int N = 1;
  float v;

  static Vec set1(float x) { return {x}; }
  // With N == 1 there is never a partial vector; the Tail overloads exist so kernels compile.
  static Vec load(const float* p, Full) { return {*p}; }
  static Vec load(const float* p, Tail) { return {*p}; }
  void store(float* p, Full) const { *p = v; }
  void store(float* p, Tail) const { *p = v; }
  // A store that bypasses the caches (nonfinite="skip" state buffers); plain here.
  void stream(float* p) const { *p = v; }
  // Bit mask of the lanes whose bit patterns differ (so -0 differs from +0, and NaNs compare
  // by payload).
  static uint32_t differ(Vec a, Vec b) {
    uint32_t x, y;
    std::memcpy(&x, &a.v, 4);
    std::memcpy(&y, &b.v, 4);
    return x != y;
  }

  // Whether the value is NaN or an infinity.
  static uint32_t nonfinite(Vec a) { return !std::isfinite(a.v); }

  // The guarded step's low bits (kernels/io-inl.h), packed vertically: acc shifted left by two
  // bits, with the two lowest bits of x below. Sixteen values fill acc.
  static Vec push_low_bits(Vec acc, Vec x) { return from_bits(bits(acc) << 2 | (bits(x) & 3u)); }
  // The two bits of acc at bits 2 s and 2 s + 1, as 0..3.
  static Vec low_bits_at(Vec acc, int s) { return from_bits(bits(acc) >> (2 * s) & 3u); }
  // Whether a's bit pattern is within -2..+1 of c's (what with_low_bits(c, ..) can reach).
  static uint32_t within(Vec a, Vec c) { return bits(a) - bits(c) + 2u <= 3u; }
  // The float whose bit pattern is within -2..+1 of a's and ends in the two bits low (0..3)
  // holds.
  static Vec with_low_bits(Vec a, Vec low) {
    const uint32_t x = bits(a);
    return from_bits(x + ((bits(low) - x + 2u) & 3u) - 2u);
  }
  static Vec from_bits(uint32_t x) {
    Vec r;
    std::memcpy(&r.v, &x, 4);
    return r;
  }
  static uint32_t bits(Vec a) {
    uint32_t x;
    std::memcpy(&x, &a.v, 4);
    return x;
  }

  friend Vec operator+(Vec a, Vec b) { return {a.v + b.v}; }
  friend Vec operator-(Vec a, Vec b) { return {a.v - b.v}; }
  friend Vec operator*(Vec a, Vec b) { return {a.v * b.v}; }
  friend Vec operator/(Vec a, Vec b) { return {a.v / b.v}; }
  // a * b + c. Rounded twice here (no FMA unit assumed); the vector targets round once.
  friend Vec mul_add(Vec a, Vec b, Vec c) { return {a.v * b.v + c.v}; }
  friend Vec operator-(Vec a) { return {-a.v}; }
  friend Vec sqrt(Vec a) { return {std::sqrt(a.v)}; }
  friend Vec abs(Vec a) { return {std::fabs(a.v)}; }
  // 1 where a > 0, -1 where a < 0, else a itself (so sign(+-0) = +-0 and sign(NaN) = NaN).
  friend Vec sign(Vec a) { return {a.v > 0.0f ? 1.0f : (a.v < 0.0f ? -1.0f : a.v)}; }
  // NaN-propagating like torch.maximum: if either is NaN the result is NaN.
  friend Vec max(Vec a, Vec b) { return {(a.v != a.v || a.v > b.v) ? a.v : b.v}; }
};

}  // namespace FO_TARGET
}  // namespace fastoptim
