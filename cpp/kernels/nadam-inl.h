// NAdam kernel (see nadam.h for the math). Included per target.
#include "kernels/nadam.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one NAdam step in place: q.p and q.s = {exp_avg, exp_avg_sq}.
template <class V>
void nadam(const Nadam::Args& a, Ptrs q, int64_t n) {
  const V gscale = V::set1(a.grad_scale), wd = V::set1(a.weight_decay);
  const V scale = V::set1(a.param_scale), omb1 = V::set1(a.one_minus_beta1);
  const V b2 = V::set1(a.beta2), omb2 = V::set1(a.one_minus_beta2);
  const V inv_bc2 = V::set1(a.inv_bias_correction2), eps = V::set1(a.eps);
  const V cg = V::set1(a.grad_coef), cm = V::set1(a.exp_avg_coef);
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
    const V denom = sqrt(v * inv_bc2) + eps;
    (p + mul_add(cg, g, cm * m) / denom).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
