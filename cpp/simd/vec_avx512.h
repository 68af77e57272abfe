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
  // bfloat16 storage (kernels/common-inl.h, StateIo): 16-bit values widened to the top half of
  // each lane, and the top halves stored back.
  static Vec load_bf16(const uint16_t* p, Full) {
    prefetch_ahead(reinterpret_cast<const float*>(p));  // the same 4 KiB ahead
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))};
  }
  static Vec load_bf16(const uint16_t* p, Tail t) {
    const __m256i h = _mm256_maskz_loadu_epi16(tail_mask(t), p);
    return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))};
  }
  // float16 (IEEE half) values widened exactly (gradients).
  static Vec load_f16(const uint16_t* p, Full) {
    prefetch_ahead(reinterpret_cast<const float*>(p));
    return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))};
  }
  static Vec load_f16(const uint16_t* p, Tail t) {
    return {_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tail_mask(t), p))};
  }
  void store_bf16(uint16_t* p, Full) const {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(high_halves()));
  }
  void store_bf16(uint16_t* p, Tail t) const {
    _mm512_mask_cvtepi32_storeu_epi16(p, tail_mask(t), high_halves());
  }
  __m512i high_halves() const { return _mm512_srli_epi32(_mm512_castps_si512(v), 16); }
  // Each lane's low 16 bits (a split parameter's low half, float16 parameters' bits) and low
  // 8 bits (int8 state's codes), zero-extended when loaded.
  static Vec load_u16(const uint16_t* p, Full) {
    return bits(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
  }
  static Vec load_u16(const uint16_t* p, Tail t) {
    return bits(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(tail_mask(t), p)));
  }
  void store_u16(uint16_t* p, Full) const {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(i(*this)));
  }
  void store_u16(uint16_t* p, Tail t) const {
    _mm512_mask_cvtepi32_storeu_epi16(p, tail_mask(t), i(*this));
  }
  static Vec load_u8(const uint8_t* p, Full) {
    prefetch_ahead(reinterpret_cast<const float*>(p));
    return bits(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static Vec load_u8(const uint8_t* p, Tail t) {
    return bits(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(tail_mask(t), p)));
  }
  void store_u8(uint8_t* p, Full) const {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(i(*this)));
  }
  void store_u8(uint8_t* p, Tail t) const {
    _mm512_mask_cvtepi32_storeu_epi8(p, tail_mask(t), i(*this));
  }
  // float16 bits, rounded to nearest even.
  void store_f16(uint16_t* p, Full) const {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  void store_f16(uint16_t* p, Tail t) const {
    _mm256_mask_storeu_epi16(p, tail_mask(t),
                             _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  // Operations on the lanes' 32-bit patterns as unsigned integers (random bits, rounding).
  static Vec u32(uint32_t x) { return bits(_mm512_set1_epi32(static_cast<int>(x))); }
  static Vec iota(uint32_t first) {
    return bits(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(first)),
                                 _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                   13, 14, 15)));
  }
  static Vec add_u32(Vec a, Vec b) { return bits(_mm512_add_epi32(i(a), i(b))); }
  static Vec mul_u32(Vec a, Vec b) { return bits(_mm512_mullo_epi32(i(a), i(b))); }
  static Vec xor_u32(Vec a, Vec b) { return bits(_mm512_xor_si512(i(a), i(b))); }
  static Vec and_u32(Vec a, Vec b) { return bits(_mm512_and_si512(i(a), i(b))); }
  static Vec or_u32(Vec a, Vec b) { return bits(_mm512_or_si512(i(a), i(b))); }
  static Vec max_i32(Vec a, Vec b) { return bits(_mm512_max_epi32(i(a), i(b))); }
  static Vec min_i32(Vec a, Vec b) { return bits(_mm512_min_epi32(i(a), i(b))); }
  static Vec max_u32(Vec a, Vec b) { return bits(_mm512_max_epu32(i(a), i(b))); }
  template <int kShift>
  static Vec sra_i32(Vec a) { return bits(_mm512_srai_epi32(i(a), kShift)); }
  // x where a & m is not 0, else 0.
  static Vec keep_if_any(Vec a, Vec m, Vec x) {
    return {_mm512_maskz_mov_ps(_mm512_test_epi32_mask(i(a), i(m)), x.v)};
  }
  template <int kShift>
  static Vec shl_u32(Vec a) { return bits(_mm512_slli_epi32(i(a), kShift)); }
  template <int kShift>
  static Vec shr_u32(Vec a) { return bits(_mm512_srli_epi32(i(a), kShift)); }
  // Lanes where x is NaN take x's bits with the quiet bit set, the others r.
  static Vec nan_or(Vec x, Vec r) {
    const __mmask16 nan = _mm512_cmp_ps_mask(x.v, x.v, _CMP_UNORD_Q);
    return bits(_mm512_mask_or_epi32(i(r), nan, i(x), _mm512_set1_epi32(0x00400000)));
  }
  static __m512i i(Vec a) { return _mm512_castps_si512(a.v); }
  static Vec bits(__m512i x) { return {_mm512_castsi512_ps(x)}; }

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
