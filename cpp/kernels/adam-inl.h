// Adam kernel, once for every vector type (see adam.h for the math). Included per target.
#include "kernels/adam.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one Adam step in place over n elements: q.p, and state q.s = {exp_avg, exp_avg_sq,
// max_exp_avg_sq (amsgrad only)}. One read and one write of each array.
template <class V>
void adam(const Adam::Args& a, Ptrs q, int64_t n) {
  const V gscale = V::set1(a.grad_scale), wd = V::set1(a.weight_decay);
  const V scale = V::set1(a.param_scale), omb1 = V::set1(a.one_minus_beta1);
  const V b2 = V::set1(a.beta2), omb2 = V::set1(a.one_minus_beta2);
  const V inv_bc2 = V::set1(a.inv_bias_correction2_sqrt), eps = V::set1(a.eps);
  const V neg_step = V::set1(a.neg_step_size);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p = V::load(q.p + i, lanes);
    V g = V::load(q.g + i, lanes) * gscale;
    if (a.coupled_decay) g = mul_add(wd, p, g);
    if (a.decoupled_decay) p = p * scale;
    V m = V::load(q.s[0] + i, lanes);
    m = mul_add(omb1, g - m, m);
    m.store(q.s[0] + i, lanes);
    V v = mul_add(b2, V::load(q.s[1] + i, lanes), omb2 * g * g);
    v.store(q.s[1] + i, lanes);
    if (a.amsgrad) {
      v = max(V::load(q.s[2] + i, lanes), v);
      v.store(q.s[2] + i, lanes);
    }
    // sqrt(v) / sqrt(1 - b2^t) as a multiply: one divide per element is the throughput limit.
    const V denom = mul_add(sqrt(v), inv_bc2, eps);
    mul_add(neg_step, m / denom, p).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
