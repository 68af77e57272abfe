// Vector forms of the pieces the rules share (GradPrep and Moments, see rule.h), and
// specialize(), which compiles a kernel's loop once per combination of its flags. Included per
// target (one target per translation unit, so #pragma once is enough).
#pragma once
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/rule.h"

namespace fastoptim {
namespace FO_TARGET {

// Forces a function inline (a kernel's loop into each of specialize()'s copies).
#define FO_INLINE __attribute__((always_inline))

// The gradient at element i, widened to float32 from its format G.
template <class V, GradFormat G, class L>
FO_INLINE inline V load_grad(const Ptrs& q, int64_t i, L lanes) {
  if constexpr (G == GradFormat::kFloat32) return V::load(static_cast<const float*>(q.g) + i, lanes);
  else if constexpr (G == GradFormat::kBfloat16)
    return V::load_bf16(static_cast<const uint16_t*>(q.g) + i, lanes);
  else return V::load_f16(static_cast<const uint16_t*>(q.g) + i, lanes);
}

// GradPrep broadcast to vectors; gradients come in format G.
template <class V, GradFormat G>
struct PreparedGrad {
  explicit PreparedGrad(const GradPrep& a)
      : a(a), scale(V::set1(a.grad_scale)), wd(V::set1(a.weight_decay)),
        param_scale(V::set1(a.param_scale)) {}

  // Loads the parameter and gradient at element i and returns them as the rule's own math
  // sees them: p decayed (decoupled weight decay), g scaled, then with L2 weight decay.
  template <class L>
  void load(const Ptrs& q, int64_t i, L lanes, V& p, V& g) const {
    const V p0 = V::load(q.p + i, lanes), g0 = load_grad<V, G>(q, i, lanes);
    p = a.decoupled ? p0 * param_scale : p0;
    g = a.coupled ? mul_add(wd, p0, g0 * scale) : g0 * scale;
  }

  const GradPrep& a;
  const V scale, wd, param_scale;
};

// How a kernel reads and writes its state arrays, in format F (rule.h, StateFormat): values
// are float32 in registers, and bfloat16 state is rounded as it is stored.
template <class V, StateFormat F>
class StateIo {
 public:
  explicit StateIo(const Ptrs& q) : q_(q), key_(V::u32(mix32(q.key))) {}
  template <class L>
  V load(int k, int64_t i, L lanes) const {
    if constexpr (F == StateFormat::kFloat32) return V::load(f32(k) + i, lanes);
    else return V::load_bf16(bf16(k) + i, lanes);
  }
  template <class L>
  void store(int k, int64_t i, L lanes, V x) const {
    if constexpr (F == StateFormat::kFloat32) {
      x.store(f32(k) + i, lanes);
    } else {
      // Adding r in [0, 2^16) to the bit pattern and keeping the top half rounds up with
      // probability (dropped bits) / 2^16: unbiased. Round to nearest even adds 0x7fff plus
      // the kept half's lowest bit. NaN stays NaN (carries could make it an infinity).
      const V r = F == StateFormat::kBf16Stochastic
                      ? random16(k, q_.at + i)
                      : V::add_u32(V::u32(0x7fff),
                                   V::and_u32(V::template shr_u32<16>(x), V::u32(1)));
      V::nan_or(x, V::add_u32(x, r)).store_bf16(bf16(k) + i, lanes);
    }
  }

 private:
  // Slot k's 16 random bits for the elements from `index` on (the index taken mod 2^32): of
  // h = mix32(index ^ key), slot 0 takes the low half, slot 1 the high half (one hash serves
  // both moments of the Adam family), slot 2 the high half of mix32(h). The same bits whatever
  // the thread count or target.
  V random16(int k, int64_t index) const {
    const V h = hash(V::xor_u32(V::iota(static_cast<uint32_t>(index)), key_));
    if (k == 0) return V::and_u32(h, V::u32(0xffff));
    if (k == 1) return V::template shr_u32<16>(h);
    return V::template shr_u32<16>(hash(h));
  }
  // mix32 on every lane.
  static V hash(V x) {
    x = V::xor_u32(x, V::template shr_u32<16>(x));
    x = V::mul_u32(x, V::u32(0x7feb352du));
    x = V::xor_u32(x, V::template shr_u32<15>(x));
    x = V::mul_u32(x, V::u32(0x846ca68bu));
    return V::xor_u32(x, V::template shr_u32<16>(x));
  }
  float* f32(int k) const { return static_cast<float*>(q_.s[k]); }
  uint16_t* bf16(int k) const { return static_cast<uint16_t*>(q_.s[k]); }

  const Ptrs q_;
  const V key_;
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
  void update(const S& st, int64_t i, L lanes, V g, V& m, V& v) const {
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
// too, so that nothing the loop reads may alias what it stores.
template <class F, class A, class... Flags>
FO_INLINE inline void specialize(const A& a, const F& f, Flags... flags) {
  specialize_from(std::integer_sequence<int32_t>{}, f, a, flags...);
}

}  // namespace FO_TARGET
}  // namespace fastoptim
