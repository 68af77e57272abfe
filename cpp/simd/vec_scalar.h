// One float per "vector": the portable target. No intrinsics, builds on any CPU.
#pragma once
#include <cmath>
#include <cstdint>

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
