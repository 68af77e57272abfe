// Vector forms of the pieces the rules share (GradPrep and Moments, see rule.h), and
// specialize(), which compiles a kernel's loop once per combination of its flags. Included per
// target (one target per translation unit, so #pragma once is enough).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/rule.h"
#include "simd/lanes.h"

namespace fastoptim {
namespace FO_TARGET {

// Forces a function inline (a kernel's loop into each of specialize()'s copies).
#define FO_INLINE __attribute__((always_inline))

// The gradient at element i, widened to float32 from its format.
template <class V, class F, class L>
FO_INLINE inline V load_grad(const Ptrs& q, int64_t i, L lanes) {
  if constexpr (!F::kGradIs16) return V::load(static_cast<const float*>(q.g) + i, lanes);
  const uint16_t* g = static_cast<const uint16_t*>(q.g) + i;
  return q.grad == GradFormat::kBfloat16 ? V::load_bf16(g, lanes) : V::load_f16(g, lanes);
}

// mix32 on every lane.
template <class V>
FO_INLINE inline V hash(V x) {
  x = V::xor_u32(x, V::template shr_u32<16>(x));
  x = V::mul_u32(x, V::u32(0x7feb352du));
  x = V::xor_u32(x, V::template shr_u32<15>(x));
  x = V::mul_u32(x, V::u32(0x846ca68bu));
  return V::xor_u32(x, V::template shr_u32<16>(x));
}

// Stochastic rounding's 16 random bits for the elements from `index` on (the index taken mod
// 2^32), for state slot k (0..2) or the parameter (k = 3): of h = mix32(index ^ key), slot 0
// takes the low half, slot 1 the high half (one hash serves both moments of the Adam family),
// slot 2 the high half of mix32(h), the parameter its low half. The same bits whatever the
// thread count or target. `key` is mix32 of the Ptrs' key.
template <class V>
FO_INLINE inline V random16(V key, int k, int64_t index) {
  V h = hash(V::xor_u32(V::iota(static_cast<uint32_t>(index)), key));
  if (k >= 2) h = hash(h);
  return k == 1 || k == 2 ? V::template shr_u32<16>(h) : V::and_u32(h, V::u32(0xffff));
}

// x rounded to bfloat16, its bits in each lane's top half: stochastically with 16 random bits r
// (adding r in [0, 2^16) to the bit pattern and keeping the top half rounds up with probability
// (dropped bits) / 2^16: unbiased), or, without r, to nearest even (adding 0x7fff plus the kept
// half's lowest bit). NaN stays NaN (a carry could make it an infinity).
template <class V>
FO_INLINE inline V round_bf16(V x, const V* r) {
  const V add = r ? *r
                  : V::add_u32(V::u32(0x7fff), V::and_u32(V::template shr_u32<16>(x), V::u32(1)));
  return V::nan_or(x, V::add_u32(x, add));
}

// How a kernel reads and writes the parameter in format q.param (rule.h, ParamFormat): float32
// in registers. A 16-bit parameter with a master weight reads the master and writes both.
template <class V, class F>
class ParamIo {
 public:
  explicit ParamIo(const Ptrs& q) : q_(q), key_(V::u32(mix32(q.key))) {}
  template <class L>
  V load(int64_t i, L lanes) const {
    if constexpr (!F::kParamIs16) {
      return V::load(static_cast<float*>(q_.p) + i, lanes);
    } else {
      switch (q_.param) {
        case ParamFormat::kBf16Split:  // the bfloat16 half and the low half kept as state
          return V::or_u32(V::load_bf16(p16() + i, lanes), V::load_u16(low16() + i, lanes));
        case ParamFormat::kBf16Copy:
        case ParamFormat::kF16Copy:
          return V::load(static_cast<float*>(q_.master) + i, lanes);
        default:
          return V::load_bf16(p16() + i, lanes);
      }
    }
  }
  template <class L>
  void store(int64_t i, L lanes, V x) const {
    if constexpr (!F::kParamIs16) {
      x.store(static_cast<float*>(q_.p) + i, lanes);
    } else {
      switch (q_.param) {
        case ParamFormat::kBf16Split:  // exact: the top half is the parameter, truncated
          x.store_bf16(p16() + i, lanes);
          x.store_u16(low16() + i, lanes);
          break;
        case ParamFormat::kBf16Copy:
          x.store(static_cast<float*>(q_.master) + i, lanes);
          round_bf16<V>(x, nullptr).store_bf16(p16() + i, lanes);
          break;
        case ParamFormat::kF16Copy:
          x.store(static_cast<float*>(q_.master) + i, lanes);
          x.store_f16(p16() + i, lanes);
          break;
        case ParamFormat::kBf16Stochastic: {
          const V r = random16(key_, 3, q_.at + i);
          round_bf16(x, &r).store_bf16(p16() + i, lanes);
          break;
        }
        default:
          round_bf16<V>(x, nullptr).store_bf16(p16() + i, lanes);
      }
    }
  }

 private:
  uint16_t* p16() const { return static_cast<uint16_t*>(q_.p); }
  uint16_t* low16() const { return static_cast<uint16_t*>(q_.master); }

  const Ptrs q_;
  const V key_;
};

// GradPrep broadcast to vectors, and the parameter's reading and writing (ParamIo).
template <class V, class F>
struct PreparedGrad {
  PreparedGrad(const GradPrep& a, const Ptrs& q)
      : a(a), q(q), param(q), scale(V::set1(a.grad_scale)), wd(V::set1(a.weight_decay)),
        param_scale(V::set1(a.param_scale)) {}

  // Loads the parameter and gradient at element i and returns them as the rule's own math
  // sees them: p decayed (decoupled weight decay), g scaled, then with L2 weight decay.
  template <class L>
  void load(int64_t i, L lanes, V& p, V& g) const {
    const V p0 = param.load(i, lanes), g0 = load_grad<V, F>(q, i, lanes);
    p = a.decoupled ? p0 * param_scale : p0;
    g = a.coupled ? mul_add(wd, p0, g0 * scale) : g0 * scale;
  }
  // Writes the new parameter at element i.
  template <class L>
  void store(int64_t i, L lanes, V p) const {
    param.store(i, lanes, p);
  }

  const GradPrep& a;
  const Ptrs& q;
  const ParamIo<V, F> param;
  const V scale, wd, param_scale;
};

// How a kernel reads and writes its state arrays, in format q.state (rule.h, StateFormat):
// values are float32 in registers, and bfloat16 state is rounded as it is stored. A kernel
// walks its elements with for_each(); int8 state (the specialization below) needs it.
template <class V, class F, StateKind = F::kState>
class StateIo {
 public:
  explicit StateIo(const Ptrs& q) : q_(q), key_(V::u32(mix32(q.key))) {}
  template <class Body>
  FO_INLINE void for_each(int64_t n, Body&& body) {
    for_each_vector<V::N>(n, body);
  }
  template <class L>
  V load(int k, int64_t i, L lanes) const {
    if constexpr (F::kState == StateKind::kFloat32) return V::load(f32(k) + i, lanes);
    else return V::load_bf16(bf16(k) + i, lanes);
  }
  template <class L>
  void store(int k, int64_t i, L lanes, V x) const {
    if constexpr (F::kState == StateKind::kFloat32) {
      x.store(f32(k) + i, lanes);
    } else if (q_.state == StateFormat::kBf16Stochastic) {
      const V r = random16(key_, k, q_.at + i);
      round_bf16(x, &r).store_bf16(bf16(k) + i, lanes);
    } else {
      round_bf16<V>(x, nullptr).store_bf16(bf16(k) + i, lanes);
    }
  }

 private:
  float* f32(int k) const { return static_cast<float*>(q_.s[k]); }
  uint16_t* bf16(int k) const { return static_cast<uint16_t*>(q_.s[k]); }

  const Ptrs q_;
  const V key_;
};

// int8 state: blocks of kBlock elements, each an 8-bit code per element and one float32 scale,
// the block's largest magnitude. A code is a small float, an exponent and mantissa bits, with
// code 0 for zero and the top code for the scale itself. A block holding a negative value takes
// the signed map (a sign bit, 3 exponent and 4 mantissa bits: magnitudes from 2^-8 of the
// scale), a block of values >= 0 the unsigned one (5 exponent and 3 mantissa bits: from 2^-32
// of the scale, for second moments, whose range is the gradient's squared, and whose small
// values must not become 0 under a square root); its scale is stored negated to say so. Values are
// rounded to the nearest code (in the bit pattern: ties away from zero). Codes come from the
// float32 bit pattern of value / scale with shifts and adds, no table.
//
// A kernel's loop runs block by block (for_each): loads decode with the block's scale; stores
// go to a float32 buffer, and at the block's end each slot written is encoded with its new
// largest magnitude. A NaN or infinity in a block makes the whole block non-finite when decoded.
template <class V, class F>
class StateIo<V, F, StateKind::kInt8> {
 public:
  // Code c encodes a >= 1 (c's magnitude bits) as float bits (a + bias) << 19 (signed) or
  // << 20 (unsigned); top codes 127 (signed) and 255 (unsigned) decode to exactly 1.
  static constexpr uint32_t kSignedBias = 2032 - 127, kUnsignedBias = 1016 - 255;

  explicit StateIo(const Ptrs& q) : q_(q) {}

  template <class Body>
  FO_INLINE void for_each(int64_t n, Body&& body) {
    for (int64_t b = 0; b < n; b += kBlock) {
      const int64_t len = n - b < kBlock ? n - b : kBlock;
      begin_block(b);
      for_each_vector<V::N>(len, [&](int64_t j, auto lanes) FO_INLINE { body(b + j, lanes); });
      end_block(b, len);
    }
  }
  template <class L>
  V load(int k, int64_t i, L lanes) const {
    const V c = V::load_u8(codes(k) + i, lanes);
    V x;
    if (signed_[k]) {  // sign to bit 31, magnitude a to bits 19-25: c << 24, shifted 5 back
      x = V::and_u32(V::template sra_i32<5>(V::template shl_u32<24>(c)), V::u32(0x83ffffffu));
      x = V::keep_if_any(c, V::u32(0x7f), V::add_u32(x, V::u32(kSignedBias << 19)));
    } else {
      x = V::keep_if_any(c, c, V::add_u32(V::template shl_u32<20>(c), V::u32(kUnsignedBias << 20)));
    }
    return x * scale_[k];
  }
  template <class L>
  void store(int k, int64_t i, L lanes, V x) {
    float* at = buffer_[k] + (i - block_);
    x.store(at, lanes);
    if constexpr (!std::is_same_v<L, Full>) x = V::load(at, lanes);  // zero the other lanes
    // As integers, the largest bit pattern of a value >= 0 (NaN above infinity) and, unsigned,
    // of a negative one (its magnitude the largest of the negative values).
    positive_[k] = V::max_i32(positive_[k], x);
    negative_[k] = V::max_u32(negative_[k], x);
    written_ |= 1 << k;
  }

  // Quantizes x[0, n) into codes and block scales (the state's format, through a store).
  static void encode(const float* x, int64_t n, uint8_t* codes, float* scales) {
    Ptrs q{};
    q.s[0] = codes;
    q.scale[0] = scales;
    StateIo st(q);
    st.for_each(n, [&](int64_t i, auto lanes) { st.store(0, i, lanes, V::load(x + i, lanes)); });
  }
  // Dequantizes n values (through a load).
  static void decode(const uint8_t* codes, const float* scales, int64_t n, float* out) {
    Ptrs q{};
    q.s[0] = const_cast<uint8_t*>(codes);
    q.scale[0] = const_cast<float*>(scales);
    StateIo st(q);
    st.for_each(n, [&](int64_t i, auto lanes) { st.load(0, i, lanes).store(out + i, lanes); });
  }

 private:
  void begin_block(int64_t b) {
    block_ = b;
    written_ = 0;
    for (int k = 0; k < kMaxSlots; ++k) {
      if (!q_.s[k]) continue;
      const float stored = q_.scale[k][b / kBlock];
      const bool is_unsigned = std::signbit(stored);
      scale_[k] = V::set1(std::fabs(stored));
      signed_[k] = !is_unsigned;
      positive_[k] = negative_[k] = V::u32(0);
    }
  }
  void end_block(int64_t b, int64_t len) {
    for (int k = 0; k < kMaxSlots; ++k) {
      if (!(written_ & (1 << k))) continue;
      const uint32_t positive = reduce(positive_[k], true), negative = reduce(negative_[k], false);
      const bool is_signed = negative >> 31;
      const uint32_t magnitude = is_signed ? negative & 0x7fffffffu : 0;
      const float largest = from_bits(magnitude > positive ? magnitude : positive);
      q_.scale[k][b / kBlock] = is_signed ? largest : -largest;
      // 0 for a zero block, and for NaN or infinite scales (then each decodes to code * scale,
      // non-finite).
      const V inv = V::set1(largest > 0.0f ? 1.0f / largest : 0.0f);
      // Rounded at the 4th bit below the exponent, then shifted: (exponent, 3 bits) - bias.
      const V round = V::u32(is_signed ? (1u << 18) - (kSignedBias << 19)
                                       : (1u << 19) - (kUnsignedBias << 20));
      const V top = V::u32(is_signed ? 127 : 255);
      uint8_t* out = codes(k) + b;
      const float* in = buffer_[k];
      if (is_signed) {
        for_each_vector<V::N>(len, [&](int64_t j, auto lanes) FO_INLINE {
          const V y = V::load(in + j, lanes) * inv;
          V a = V::template sra_i32<19>(V::add_u32(abs(y), round));
          a = V::min_i32(V::max_i32(a, V::u32(0)), top);
          const V sign = V::and_u32(V::template shr_u32<24>(y), V::u32(0x80));
          V::or_u32(a, sign).store_u8(out + j, lanes);
        });
      } else {  // every value >= 0
        for_each_vector<V::N>(len, [&](int64_t j, auto lanes) FO_INLINE {
          const V y = V::load(in + j, lanes) * inv;
          V a = V::template sra_i32<20>(V::add_u32(y, round));
          V::min_i32(V::max_i32(a, V::u32(0)), top).store_u8(out + j, lanes);
        });
      }
    }
  }
  // The largest lane, as int32 or as uint32.
  static uint32_t reduce(V x, bool as_signed) {
    float lanes[V::N];
    x.store(lanes, Full{});
    uint32_t r = to_bits(lanes[0]);
    for (int j = 1; j < V::N; ++j) {
      const uint32_t v = to_bits(lanes[j]);
      if (as_signed ? static_cast<int32_t>(v) > static_cast<int32_t>(r) : v > r) r = v;
    }
    return r;
  }
  static uint32_t to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  }
  static float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  uint8_t* codes(int k) const { return static_cast<uint8_t*>(q_.s[k]); }

  const Ptrs q_;
  int64_t block_ = 0;
  int written_ = 0;  // the slots stored to in this block
  bool signed_[kMaxSlots] = {};
  V scale_[kMaxSlots], positive_[kMaxSlots], negative_[kMaxSlots];
  alignas(64) float buffer_[kMaxSlots][kBlock];
};

// Moments broadcast to vectors.
template <class V>
struct MomentsV {
  explicit MomentsV(const Moments& a)
      : omb1(V::set1(a.one_minus_beta1)), b2(V::set1(a.beta2)), omb2(V::set1(a.one_minus_beta2)) {}

  // m + (1 - b1) (x - m)
  V first(V m, V x) const { return mul_add(omb1, x - m, m); }
  // b2 v + (1 - b2) x^2
  V second(V v, V x) const { return mul_add(b2, v, omb2 * x * x); }
  // Both moments at element i from gradient g, in place in state slots 0 and 1; the new
  // values are returned in m and v.
  template <class S, class L>
  void update(S& st, int64_t i, L lanes, V g, V& m, V& v) const {
    m = first(st.load(0, i, lanes), g);
    v = second(st.load(1, i, lanes), g);
    st.store(0, i, lanes, m);
    st.store(1, i, lanes, v);
  }

  const V omb1, b2, omb2;
};

// A flag of the kernel arguments (an int32 field used as a boolean) for specialize(): a member
// of the Args (Flag<&Adam::Args::amsgrad>) or of its gradient preparation
// (Flag<&GradPrep::coupled>).
template <auto kMember>
struct Flag {};
template <class A, auto kMember>
FO_INLINE inline auto& flag(A& a, Flag<kMember>) {
  if constexpr (std::is_same_v<decltype(kMember), int32_t GradPrep::*>) return a.prep.*kMember;
  else return a.*kMember;
}
template <int32_t... kValues>
struct Fixed {
  // f's loop, compiled with the flags fixed to kValues in its own copy of the arguments.
  template <class F, class A, class... Flags>
  [[gnu::noinline, gnu::flatten]] static void run(F f, A a, Flags... flags) {
    ((flag(a, flags) = kValues), ...);
    f(a);
  }
};
template <int32_t... kValues, class F, class A, class... Flags>
FO_INLINE inline void specialize_from(std::integer_sequence<int32_t, kValues...>, const F& f,
                                      const A& a, Flags... flags) {
  constexpr size_t k = sizeof...(kValues);
  if constexpr (k == sizeof...(Flags)) {
    Fixed<kValues...>::run(f, a, flags...);
  } else {
    if (flag(a, std::get<k>(std::tuple<Flags...>(flags...))))
      specialize_from(std::integer_sequence<int32_t, kValues..., 1>{}, f, a, flags...);
    else
      specialize_from(std::integer_sequence<int32_t, kValues..., 0>{}, f, a, flags...);
  }
}
// Calls f(a) with the listed flags of the kernel arguments a known at compile time: one copy of
// f's loop per combination, none of which tests a flag per vector (the loop unswitching
// compilers do not do for loops this large). f, a lambda with its captures by value, is copied
// too, so that nothing the loop reads may alias what it stores. Only for the formats Formats
// (rule.h) whose loop is bound by memory: int8 state's and 16-bit parameters' loops are bound
// by their arithmetic, where a predictable flag test costs little, and a copy per combination
// would multiply their (large) code and the build's time.
template <class Formats, class F, class A, class... Flags>
FO_INLINE inline void specialize(const A& a, const F& f, Flags... flags) {
  if constexpr (Formats::kState == StateKind::kInt8 || Formats::kParamIs16)
    Fixed<>::run(f, a);
  else
    specialize_from(std::integer_sequence<int32_t>{}, f, a, flags...);
}

}  // namespace FO_TARGET
}  // namespace fastoptim
