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
  static constexpr int kNonfinite = 0x01 | 0x08 | 0x10 | 0x80;  // fpclass: QNaN, +-Inf, SNaN
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
  // A store that bypasses the caches; p must be 64-byte aligned.
  void stream(float* p) const { _mm512_stream_ps(p, v); }
  // Bit mask of the lanes whose bit patterns differ.
  static uint32_t differ(Vec a, Vec b) {
    return _mm512_cmpneq_epi32_mask(_mm512_castps_si512(a.v), _mm512_castps_si512(b.v));
  }

  // Bit mask of the lanes that hold NaN or an infinity.
  static uint32_t nonfinite(Vec a) { return _mm512_fpclass_ps_mask(a.v, kNonfinite); }
  // Whether, among the lanes set in `valid`, a and b differ (bit patterns) or g is NaN or
  // infinite: the guarded step's test per vector, in mask registers.
  static bool differ_or_nonfinite(Vec a, Vec b, Vec g, uint32_t valid) {
    const __mmask16 m = static_cast<__mmask16>(valid);
    return !_kortestz_mask16_u8(
        _mm512_mask_cmpneq_epi32_mask(m, _mm512_castps_si512(a.v), _mm512_castps_si512(b.v)),
        _mm512_mask_fpclass_ps_mask(m, g.v, kNonfinite));
  }

  // The guarded step's low bits (kernels/io-inl.h), packed vertically: acc shifted left by two
  // bits, with the two lowest bits of each lane of x below. Sixteen vectors fill acc.
  static Vec push_low_bits(Vec acc, Vec x) {
    return {_mm512_castsi512_ps(_mm512_ternarylogic_epi32(  // (acc << 2) | (x & 3)
        _mm512_slli_epi32(_mm512_castps_si512(acc.v), 2), _mm512_castps_si512(x.v),
        _mm512_set1_epi32(3), 0xf8))};
  }
  // The two bits of each lane of acc at bits 2 s and 2 s + 1, as 0..3.
  static Vec low_bits_at(Vec acc, int s) {
    return {_mm512_castsi512_ps(
        _mm512_and_si512(_mm512_srl_epi32(_mm512_castps_si512(acc.v), _mm_cvtsi32_si128(2 * s)),
                         _mm512_set1_epi32(3)))};
  }
  // Whether a lane set in `valid` holds in a a bit pattern not within -2..+1 of c's (what
  // with_low_bits(c, ..) can reach).
  static bool any_outside(Vec a, Vec c, uint32_t valid) {
    return _mm512_mask_cmpgt_epu32_mask(static_cast<__mmask16>(valid), window(a, c),
                                        _mm512_set1_epi32(3)) != 0;
  }
  // Lanes where a's bit pattern is within -2..+1 of c's.
  static uint32_t within(Vec a, Vec c) {
    return _mm512_cmple_epu32_mask(window(a, c), _mm512_set1_epi32(3));
  }
  // a's bit pattern less c's, plus 2: 0..3 (unsigned) where a is within -2..+1 of c.
  static __m512i window(Vec a, Vec c) {
    return _mm512_add_epi32(
        _mm512_sub_epi32(_mm512_castps_si512(a.v), _mm512_castps_si512(c.v)),
        _mm512_set1_epi32(2));
  }
  // Per lane, the float whose bit pattern is within -2..+1 of a's and ends in the two bits that
  // low (0..3, as low_bits_at() gives them) holds.
  static Vec with_low_bits(Vec a, Vec low) {
    const __m512i x = _mm512_castps_si512(a.v), two = _mm512_set1_epi32(2);
    const __m512i d = _mm512_sub_epi32(_mm512_castps_si512(low.v), x);
    const __m512i k = _mm512_sub_epi32(
        _mm512_and_si512(_mm512_add_epi32(d, two), _mm512_set1_epi32(3)), two);
    return {_mm512_castsi512_ps(_mm512_add_epi32(x, k))};
  }

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
