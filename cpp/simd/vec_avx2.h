// Eight floats in a 256-bit register: the AVX2 + FMA target.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "simd/lanes.h"
#include "simd/prefetch.h"

namespace fastoptim {
namespace FO_TARGET {

struct Vec {
  static constexpr int N = 8;
  __m256 v;

  // Lanes [0, count) set: the mask for maskload/maskstore.
  static __m256i tail_mask(Tail t) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(t.count), iota);
  }
  static Vec set1(float x) { return {_mm256_set1_ps(x)}; }
  static Vec load(const float* p, Full) {
    prefetch_ahead(p);
    return {_mm256_loadu_ps(p)};
  }
  static Vec load(const float* p, Tail t) { return {_mm256_maskload_ps(p, tail_mask(t))}; }
  void store(float* p, Full) const { _mm256_storeu_ps(p, v); }
  void store(float* p, Tail t) const { _mm256_maskstore_ps(p, tail_mask(t), v); }
  friend Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
  friend Vec operator/(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
  friend Vec mul_add(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  friend Vec operator-(Vec a) { return {_mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f))}; }
  friend Vec sqrt(Vec a) { return {_mm256_sqrt_ps(a.v)}; }
  friend Vec abs(Vec a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
  // 1 where a > 0, -1 where a < 0, else a itself (so sign(+-0) = +-0 and sign(NaN) = NaN).
  friend Vec sign(Vec a) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 pos = _mm256_blendv_ps(a.v, _mm256_set1_ps(1.0f), _mm256_cmp_ps(a.v, zero, _CMP_GT_OQ));
    return {_mm256_blendv_ps(pos, _mm256_set1_ps(-1.0f), _mm256_cmp_ps(a.v, zero, _CMP_LT_OQ))};
  }
  // NaN-propagating like torch.maximum: maxps returns its second operand when either is NaN.
  friend Vec max(Vec a, Vec b) {
    const __m256 m = _mm256_max_ps(b.v, a.v);  // a if a is NaN
    return {_mm256_blendv_ps(m, b.v, _mm256_cmp_ps(b.v, b.v, _CMP_UNORD_Q))};
  }
};

}  // namespace FO_TARGET
}  // namespace fastoptim
