// Vector forms of the pieces the rules share (GradPrep and Moments, see rule.h). Included per
// target (one target per translation unit, so #pragma once is enough).
#pragma once
#include "kernels/rule.h"

namespace fastoptim {
namespace FO_TARGET {

// GradPrep broadcast to vectors.
template <class V>
struct PreparedGrad {
  explicit PreparedGrad(const GradPrep& a)
      : a(a), scale(V::set1(a.grad_scale)), wd(V::set1(a.weight_decay)),
        param_scale(V::set1(a.param_scale)) {}

  // Loads p and g at element i and applies the preparation: scaled g, then weight decay.
  template <class Lanes>
  void load(const Ptrs& q, int64_t i, Lanes lanes, V& p, V& g) const {
    p = V::load(q.p + i, lanes);
    g = V::load(q.g + i, lanes) * scale;
    if (a.coupled) g = mul_add(wd, p, g);
    if (a.decoupled) p = p * param_scale;
  }

  const GradPrep& a;
  const V scale, wd, param_scale;
};

// Moments broadcast to vectors; each update reads and writes its state array once.
template <class V>
struct MomentsV {
  explicit MomentsV(const Moments& a)
      : omb1(V::set1(a.one_minus_beta1)), b2(V::set1(a.beta2)), omb2(V::set1(a.one_minus_beta2)) {}

  // m <- m + (1 - b1) (x - m) in memory at `m`; returns the new m.
  template <class Lanes>
  V first(float* m, V x, Lanes lanes) const {
    V r = V::load(m, lanes);
    r = mul_add(omb1, x - r, r);
    r.store(m, lanes);
    return r;
  }

  // v <- b2 v + (1 - b2) x^2 in memory at `v`; returns the new v.
  template <class Lanes>
  V second(float* v, V x, Lanes lanes) const {
    const V r = mul_add(b2, V::load(v, lanes), omb2 * x * x);
    r.store(v, lanes);
    return r;
  }

  const V omb1, b2, omb2;
};

}  // namespace FO_TARGET
}  // namespace fastoptim
