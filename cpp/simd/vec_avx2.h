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
  // A store that bypasses the caches; p must be 32-byte aligned.
  void stream(float* p) const { _mm256_stream_ps(p, v); }
  // Bit mask of the lanes whose bit patterns differ.
  static uint32_t differ(Vec a, Vec b) {
    const __m256i eq = _mm256_cmpeq_epi32(_mm256_castps_si256(a.v), _mm256_castps_si256(b.v));
    return ~static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(eq))) & 0xffu;
  }

  // Bit mask of the lanes that hold NaN or an infinity (all exponent bits set).
  static uint32_t nonfinite(Vec a) {
    const __m256i e = _mm256_set1_epi32(0x7f800000);
    const __m256i x = _mm256_and_si256(_mm256_castps_si256(a.v), e);
    return static_cast<uint32_t>(
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(x, e))));
  }

  // The guarded step's low bits (kernels/io-inl.h), packed vertically: acc shifted left by two
  // bits, with the two lowest bits of each lane of x below. Sixteen vectors fill acc.
  static Vec push_low_bits(Vec acc, Vec x) {
    return {_mm256_castsi256_ps(_mm256_or_si256(
        _mm256_slli_epi32(_mm256_castps_si256(acc.v), 2),
        _mm256_and_si256(_mm256_castps_si256(x.v), _mm256_set1_epi32(3))))};
  }
  // The two bits of each lane of acc at bits 2 s and 2 s + 1, as 0..3.
  static Vec low_bits_at(Vec acc, int s) {
    return {_mm256_castsi256_ps(
        _mm256_and_si256(_mm256_srl_epi32(_mm256_castps_si256(acc.v), _mm_cvtsi32_si128(2 * s)),
                         _mm256_set1_epi32(3)))};
  }
  // Lanes where a's bit pattern is within -2..+1 of c's (what with_low_bits(c, ..) can reach).
  static uint32_t within(Vec a, Vec c) {
    const __m256i k = _mm256_add_epi32(
        _mm256_sub_epi32(_mm256_castps_si256(a.v), _mm256_castps_si256(c.v)), _mm256_set1_epi32(2));
    const __m256i in = _mm256_cmpeq_epi32(_mm256_min_epu32(k, _mm256_set1_epi32(3)), k);
    return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(in)));
  }
  // Per lane, the float whose bit pattern is within -2..+1 of a's and ends in the two bits that
  // low (0..3, as low_bits_at() gives them) holds.
  static Vec with_low_bits(Vec a, Vec low) {
    const __m256i x = _mm256_castps_si256(a.v), two = _mm256_set1_epi32(2);
    const __m256i d = _mm256_sub_epi32(_mm256_castps_si256(low.v), x);
    const __m256i k = _mm256_sub_epi32(
        _mm256_and_si256(_mm256_add_epi32(d, two), _mm256_set1_epi32(3)), two);
    return {_mm256_castsi256_ps(_mm256_add_epi32(x, k))};
  }

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
