// Sixteen floats in a 512-bit register: the AVX-512 (F, DQ, BW, VL) target. Tails use native
// lane masks.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "simd/lanes.h"
#include "simd/prefetch.h"

namespace fastoptim {
namespace FO_TARGET {

struct Vec {
  static constexpr int N = 16;
  __m512 v;

  static __mmask16 tail_mask(Tail t) { return static_cast<__mmask16>((1u << t.count) - 1u); }
  static Vec set1(float x) { return {_mm512_set1_ps(x)}; }
  static Vec load(const float* p, Full) {
    prefetch_ahead(p);
    return {_mm512_loadu_ps(p)};
  }
  static Vec load(const float* p, Tail t) { return {_mm512_maskz_loadu_ps(tail_mask(t), p)}; }
  void store(float* p, Full) const { _mm512_storeu_ps(p, v); }
  void store(float* p, Tail t) const { _mm512_mask_storeu_ps(p, tail_mask(t), v); }
  friend Vec operator+(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
  friend Vec operator/(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
  friend Vec mul_add(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  friend Vec operator-(Vec a) {
    return {_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v),
                                                 _mm512_set1_epi32(INT32_MIN)))};
  }
  friend Vec sqrt(Vec a) { return {_mm512_sqrt_ps(a.v)}; }
  friend Vec abs(Vec a) { return {_mm512_abs_ps(a.v)}; }
  // 1 where a > 0, -1 where a < 0, else a itself (so sign(+-0) = +-0 and sign(NaN) = NaN).
  friend Vec sign(Vec a) {
    const __m512 zero = _mm512_setzero_ps();
    const __m512 pos = _mm512_mask_mov_ps(a.v, _mm512_cmp_ps_mask(a.v, zero, _CMP_GT_OQ),
                                          _mm512_set1_ps(1.0f));
    return {_mm512_mask_mov_ps(pos, _mm512_cmp_ps_mask(a.v, zero, _CMP_LT_OQ),
                               _mm512_set1_ps(-1.0f))};
  }
  // NaN-propagating like torch.maximum.
  friend Vec max(Vec a, Vec b) {
    const __m512 m = _mm512_max_ps(b.v, a.v);  // a if a is NaN
    return {_mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(b.v, b.v, _CMP_UNORD_Q), b.v)};
  }
};

}  // namespace FO_TARGET
}  // namespace fastoptim
