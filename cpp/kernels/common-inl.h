// Vector forms of the pieces the rules share (GradPrep and Moments, see rule.h). Included per
// target (one target per translation unit, so #pragma once is enough).
#pragma once
#include <array>

#include "kernels/io-inl.h"
#include "kernels/rule.h"

namespace fastoptim {
namespace FO_TARGET {

// GradPrep broadcast to vectors.
template <class V>
struct PreparedGrad {
  explicit PreparedGrad(const GradPrep& a)
      : a(a), scale(V::set1(a.grad_scale)), wd(V::set1(a.weight_decay)),
        param_scale(V::set1(a.param_scale)) {}

  // From the stored p0 and g0: the parameter and gradient the rule's own math sees (scaled g,
  // then weight decay).
  void apply(V p0, V g0, V& p, V& g) const {
    p = a.decoupled ? p0 * param_scale : p0;
    g = grad(p0, g0);
  }
  // Loads p0 and g0 at element i, then apply().
  template <class L>
  void load(const Ptrs& q, int64_t i, L lanes, V& p0, V& g0, V& p, V& g) const {
    p0 = V::load(q.p + i, lanes);
    g0 = V::load(q.g + i, lanes);
    apply(p0, g0, p, g);
  }
  // The prepared gradient for parameter value p.
  V grad(V p, V g0) const { return a.coupled ? mul_add(wd, p, g0 * scale) : g0 * scale; }
  // Undoes apply's parameter scaling, as nearly as float32 allows.
  V unscale(V p) const { return a.decoupled ? p / param_scale : p; }
  // The old parameter of a step p_new = p + C g' + R whose g' reads p (guess(), io-inl.h).
  // before(x) recomputes p from p_new with g' taken at x: exact enough when g' does not
  // depend on p. With coupled weight decay it does, g' = s g0 + wd p, and the linear equation
  // is solved instead: p = (p_new - R - C s g0) / (1 + C wd); linear() returns {C, R}.
  template <class F, class L>
  V solve(V p_new, V g0, F before, L linear) const {
    if (!a.coupled) return before(p_new);
    const auto cr = linear();
    return (p_new - cr[1] - cr[0] * (g0 * scale)) / mul_add(cr[0], wd, V::set1(1.0f));
  }

  const GradPrep& a;
  const V scale, wd, param_scale;
};

// The guess (io-inl.h) a forward pass makes with a rule's vector constants c: c.before(p1, d)
// from the step direction d it has just computed, which equals what c.guess() recomputes from
// memory bit for bit, unless coupled weight decay makes the gradient read p: then c.guess()
// itself (it solves for p).
template <class T>
struct Same {
  using type = T;
};
template <class C, class V>
V fast_guess(const C& c, V p1, V d, V g0, const typename Same<V>::type* old,
             const typename Same<V>::type* now) {
  return c.prep.a.coupled ? c.guess(p1, g0, old, now) : c.before(p1, d);
}

// Moments broadcast to vectors.
template <class V>
struct MomentsV {
  explicit MomentsV(const Moments& a)
      : omb1(V::set1(a.one_minus_beta1)), b2(V::set1(a.beta2)), omb2(V::set1(a.one_minus_beta2)),
        inv_b1(V::set1(1.0f / (1.0f - a.one_minus_beta1))), inv_b2(V::set1(1.0f / a.beta2)) {}

  // m + (1 - b1) (x - m)
  V first(V m, V x) const { return mul_add(omb1, x - m, m); }
  // b2 v + (1 - b2) x^2
  V second(V v, V x) const { return mul_add(b2, v, omb2 * x * x); }
  // Both moments at element i from gradient g: read from q.s[0] and q.s[1], written through
  // io (restorable in place: estimate() below), returned in now[0] and now[1].
  template <class L, class Io>
  void update(const Ptrs& q, int64_t i, L lanes, Io& io, V g, V* now) const {
    const V m = V::load(q.s[0] + i, lanes), v = V::load(q.s[1] + i, lanes);
    now[0] = first(m, g);
    now[1] = second(v, g);
    io.state(q, 0, i, lanes, now[0], m, [&] { return estimate(0, now[0], g); });
    io.state(q, 1, i, lanes, now[1], v, [&] { return estimate(1, now[1], g); });
  }
  // The m (k = 0) or v (k = 1) that first() or second() with gradient g turned into `now`,
  // estimated by the inverse formula (io-inl.h): for a rule's estimate().
  V estimate(int k, V now, V g) const {
    return k == 0 ? (now - omb1 * g) * inv_b1 : (now - omb2 * g * g) * inv_b2;
  }

  const V omb1, b2, omb2, inv_b1, inv_b2;
};

}  // namespace FO_TARGET
}  // namespace fastoptim
