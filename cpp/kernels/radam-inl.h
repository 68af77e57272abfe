// RAdam kernel (see radam.h for the math). Included per target.
#include "kernels/radam.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one RAdam step in place: q.p and q.s = {exp_avg, exp_avg_sq}.
template <class V>
void radam(const Radam::Args& a, Ptrs q, int64_t n) {
  const V gscale = V::set1(a.grad_scale), wd = V::set1(a.weight_decay);
  const V scale = V::set1(a.param_scale), omb1 = V::set1(a.one_minus_beta1);
  const V b2 = V::set1(a.beta2), omb2 = V::set1(a.one_minus_beta2), eps = V::set1(a.eps);
  const V coef = V::set1(a.neg_coef);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p = V::load(q.p + i, lanes);
    V g = V::load(q.g + i, lanes) * gscale;
    if (a.coupled_decay) g = mul_add(wd, p, g);
    if (a.decoupled_decay) p = p * scale;
    V m = V::load(q.s[0] + i, lanes);
    m = mul_add(omb1, g - m, m);
    m.store(q.s[0] + i, lanes);
    const V v = mul_add(b2, V::load(q.s[1] + i, lanes), omb2 * g * g);
    v.store(q.s[1] + i, lanes);
    // Early steps (rho_t <= 5) take an un-adapted momentum step.
    const V step = a.rectified ? m / (sqrt(v) + eps) : m;
    mul_add(coef, step, p).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
