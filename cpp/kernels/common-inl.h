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

// GradPrep broadcast to vectors.
template <class V>
struct PreparedGrad {
  explicit PreparedGrad(const GradPrep& a)
      : a(a), scale(V::set1(a.grad_scale)), wd(V::set1(a.weight_decay)),
        param_scale(V::set1(a.param_scale)) {}

  // Loads the parameter and gradient at element i and returns them as the rule's own math
  // sees them: p decayed (decoupled weight decay), g scaled, then with L2 weight decay.
  template <class L>
  void load(const Ptrs& q, int64_t i, L lanes, V& p, V& g) const {
    const V p0 = V::load(q.p + i, lanes), g0 = V::load(q.g + i, lanes);
    p = a.decoupled ? p0 * param_scale : p0;
    g = a.coupled ? mul_add(wd, p0, g0 * scale) : g0 * scale;
  }

  const GradPrep& a;
  const V scale, wd, param_scale;
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
  // Both moments at element i from gradient g, in place in q.s[0] and q.s[1]; the new values
  // are returned in m and v.
  template <class L>
  void update(const Ptrs& q, int64_t i, L lanes, V g, V& m, V& v) const {
    m = first(V::load(q.s[0] + i, lanes), g);
    v = second(V::load(q.s[1] + i, lanes), g);
    m.store(q.s[0] + i, lanes);
    v.store(q.s[1] + i, lanes);
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
