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
  // bfloat16 storage (kernels/common-inl.h, StateIo): a 16-bit value widened to the top half,
  // and the top half stored back.
  template <class L>
  static Vec load_bf16(const uint16_t* p, L) { return from_bits(static_cast<uint32_t>(*p) << 16); }
  // A float16 (IEEE half) value widened exactly (gradients).
  template <class L>
  static Vec load_f16(const uint16_t* p, L) {
    const uint32_t h = *p, sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return from_bits(sign | 0x7f800000u | man << 13);  // inf, NaN
    if (exp != 0) return from_bits(sign | (exp + 112) << 23 | man << 13);
    // Zero or subnormal: man * 2^-24, exact in float32.
    return {(sign ? -1.0f : 1.0f) * static_cast<float>(man) * 5.9604644775390625e-8f};
  }
  template <class L>
  void store_bf16(uint16_t* p, L) const { *p = static_cast<uint16_t>(to_bits(*this) >> 16); }
  // The low 16 bits (a split parameter's low half) and low 8 bits (int8 state's codes),
  // zero-extended when loaded.
  template <class L>
  static Vec load_u16(const uint16_t* p, L) { return from_bits(*p); }
  template <class L>
  void store_u16(uint16_t* p, L) const { *p = static_cast<uint16_t>(to_bits(*this)); }
  template <class L>
  static Vec load_u8(const uint8_t* p, L) { return from_bits(*p); }
  template <class L>
  void store_u8(uint8_t* p, L) const { *p = static_cast<uint8_t>(to_bits(*this)); }
  // float16 bits, rounded to nearest even (as F16C's conversion: NaN stays NaN, quieted).
  template <class L>
  void store_f16(uint16_t* p, L) const {
    const uint32_t x = to_bits(*this), a = x & 0x7fffffffu;
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
    uint32_t h;
    if (a > 0x7f800000u) h = 0x7e00u | ((a >> 13) & 0x3ffu);  // NaN
    else if (a >= 0x477ff000u) h = 0x7c00u;  // from 65520 up: infinity
    else if (a >= 0x38800000u) h = (a + 0x0fffu + ((a >> 13) & 1u) - (112u << 23)) >> 13;
    else h = static_cast<uint32_t>(std::nearbyint(std::fabs(v) * 16777216.0f));  // subnormal
    *p = static_cast<uint16_t>(sign | h);
  }
  // Operations on the 32-bit pattern as an unsigned integer (random bits, rounding).
  static Vec u32(uint32_t x) { return from_bits(x); }
  static Vec iota(uint32_t first) { return from_bits(first); }
  static Vec add_u32(Vec a, Vec b) { return from_bits(to_bits(a) + to_bits(b)); }
  static Vec mul_u32(Vec a, Vec b) { return from_bits(to_bits(a) * to_bits(b)); }
  static Vec xor_u32(Vec a, Vec b) { return from_bits(to_bits(a) ^ to_bits(b)); }
  static Vec and_u32(Vec a, Vec b) { return from_bits(to_bits(a) & to_bits(b)); }
  static Vec or_u32(Vec a, Vec b) { return from_bits(to_bits(a) | to_bits(b)); }
  static Vec max_i32(Vec a, Vec b) {
    return static_cast<int32_t>(to_bits(a)) > static_cast<int32_t>(to_bits(b)) ? a : b;
  }
  static Vec min_i32(Vec a, Vec b) {
    return static_cast<int32_t>(to_bits(a)) < static_cast<int32_t>(to_bits(b)) ? a : b;
  }
  template <int kShift>
  static Vec shl_u32(Vec a) { return from_bits(to_bits(a) << kShift); }
  static Vec max_u32(Vec a, Vec b) { return to_bits(a) > to_bits(b) ? a : b; }
  template <int kShift>
  static Vec sra_i32(Vec a) {
    // Arithmetic shift, spelled portably: the sign's bits shifted in.
    const uint32_t x = to_bits(a);
    return from_bits(x >> kShift | (x >> 31 ? ~(~0u >> kShift) : 0u));
  }
  // x where a & m is not 0, else 0.
  static Vec keep_if_any(Vec a, Vec m, Vec x) { return (to_bits(a) & to_bits(m)) ? x : Vec{0.0f}; }
  template <int kShift>
  static Vec shr_u32(Vec a) { return from_bits(to_bits(a) >> kShift); }
  // x's bits with the quiet bit set if x is NaN, else r.
  static Vec nan_or(Vec x, Vec r) { return x.v != x.v ? from_bits(to_bits(x) | 0x00400000u) : r; }
  static Vec from_bits(uint32_t x) {
    Vec r;
    std::memcpy(&r.v, &x, 4);
    return r;
  }
  static uint32_t to_bits(Vec a) {
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
