// Eight floats in a 256-bit register: the AVX2 + FMA target.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

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
  // bfloat16 storage (kernels/common-inl.h, StateIo): 16-bit values widened to the top half of
  // each lane, and the top halves stored back. Tails go through a small buffer.
  static Vec load_bf16(const uint16_t* p, Full) {
    prefetch_ahead(reinterpret_cast<const float*>(p));  // the same 4 KiB ahead
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return bits(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static Vec load_bf16(const uint16_t* p, Tail t) { return load_tail(p, t, &load_bf16); }
  // float16 (IEEE half) values widened exactly (gradients; F16C).
  static Vec load_f16(const uint16_t* p, Full) {
    prefetch_ahead(reinterpret_cast<const float*>(p));
    return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))};
  }
  static Vec load_f16(const uint16_t* p, Tail t) { return load_tail(p, t, &load_f16); }
  void store_bf16(uint16_t* p, Full) const { store16(p, _mm256_srli_epi32(i(*this), 16)); }
  void store_bf16(uint16_t* p, Tail t) const { store_tail(p, t, &Vec::store_bf16); }
  // Each lane's low 16 bits (a split parameter's low half, float16 parameters' bits) and low
  // 8 bits (int8 state's codes), zero-extended when loaded. Tails go through a small buffer.
  static Vec load_u16(const uint16_t* p, Full) {
    return bits(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
  }
  static Vec load_u16(const uint16_t* p, Tail t) { return load_tail(p, t, &load_u16); }
  void store_u16(uint16_t* p, Full) const {
    store16(p, _mm256_and_si256(i(*this), _mm256_set1_epi32(0xffff)));
  }
  void store_u16(uint16_t* p, Tail t) const { store_tail(p, t, &Vec::store_u16); }
  static Vec load_u8(const uint8_t* p, Full) {
    prefetch_ahead(reinterpret_cast<const float*>(p));
    return bits(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
  static Vec load_u8(const uint8_t* p, Tail t) { return load_tail(p, t, &load_u8); }
  void store_u8(uint8_t* p, Full) const {
    // Lanes hold 0..255: pack to 16 bits, then to 8, within each 128-bit half; then join the
    // halves' first four bytes.
    const __m256i b = _mm256_and_si256(i(*this), _mm256_set1_epi32(0xff));
    const __m256i w = _mm256_packus_epi16(_mm256_packus_epi32(b, b), _mm256_setzero_si256());
    const __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_unpacklo_epi32(lo, hi));
  }
  void store_u8(uint8_t* p, Tail t) const { store_tail(p, t, &Vec::store_u8); }
  // float16 bits, rounded to nearest even.
  void store_f16(uint16_t* p, Full) const {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  void store_f16(uint16_t* p, Tail t) const { store_tail(p, t, &Vec::store_f16); }
  // Operations on the lanes' 32-bit patterns as unsigned integers (random bits, rounding).
  static Vec u32(uint32_t x) { return bits(_mm256_set1_epi32(static_cast<int>(x))); }
  static Vec iota(uint32_t first) {
    return bits(_mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(first)),
                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  }
  static Vec add_u32(Vec a, Vec b) { return bits(_mm256_add_epi32(i(a), i(b))); }
  static Vec mul_u32(Vec a, Vec b) { return bits(_mm256_mullo_epi32(i(a), i(b))); }
  static Vec xor_u32(Vec a, Vec b) { return bits(_mm256_xor_si256(i(a), i(b))); }
  static Vec and_u32(Vec a, Vec b) { return bits(_mm256_and_si256(i(a), i(b))); }
  static Vec or_u32(Vec a, Vec b) { return bits(_mm256_or_si256(i(a), i(b))); }
  static Vec max_i32(Vec a, Vec b) { return bits(_mm256_max_epi32(i(a), i(b))); }
  static Vec min_i32(Vec a, Vec b) { return bits(_mm256_min_epi32(i(a), i(b))); }
  static Vec max_u32(Vec a, Vec b) { return bits(_mm256_max_epu32(i(a), i(b))); }
  template <int kShift>
  static Vec sra_i32(Vec a) { return bits(_mm256_srai_epi32(i(a), kShift)); }
  // x where a & m is not 0, else 0.
  static Vec keep_if_any(Vec a, Vec m, Vec x) {
    const __m256i none = _mm256_cmpeq_epi32(_mm256_and_si256(i(a), i(m)), _mm256_setzero_si256());
    return {_mm256_andnot_ps(_mm256_castsi256_ps(none), x.v)};
  }
  template <int kShift>
  static Vec shl_u32(Vec a) { return bits(_mm256_slli_epi32(i(a), kShift)); }
  template <int kShift>
  static Vec shr_u32(Vec a) { return bits(_mm256_srli_epi32(i(a), kShift)); }
  // Lanes where x is NaN take x's bits with the quiet bit set, the others r.
  static Vec nan_or(Vec x, Vec r) {
    const __m256 nan = _mm256_cmp_ps(x.v, x.v, _CMP_UNORD_Q);
    const __m256 quiet = _mm256_or_ps(x.v, _mm256_castsi256_ps(_mm256_set1_epi32(0x00400000)));
    return {_mm256_blendv_ps(r.v, quiet, nan)};
  }
  // The 16-bit lanes of h (each < 2^16): packed within each 128-bit half, then the two halves'
  // low quadwords brought together.
  static void store16(uint16_t* p, __m256i h) {
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
  }
  // The tails of 16- and 8-bit loads and stores: the whole-vector form on a buffer of N.
  template <class T>
  static Vec load_tail(const T* p, Tail t, Vec (*full)(const T*, Full)) {
    T tmp[N] = {};
    std::memcpy(tmp, p, sizeof(T) * t.count);
    return full(tmp, Full{});
  }
  template <class T>
  void store_tail(T* p, Tail t, void (Vec::*full)(T*, Full) const) const {
    T tmp[N];
    (this->*full)(tmp, Full{});
    std::memcpy(p, tmp, sizeof(T) * t.count);
  }
  static __m256i i(Vec a) { return _mm256_castps_si256(a.v); }
  static Vec bits(__m256i x) { return {_mm256_castsi256_ps(x)}; }

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
