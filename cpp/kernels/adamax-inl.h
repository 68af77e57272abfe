// Adamax kernel (see adamax.h for the math). Included per target.
#include "kernels/adamax.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one Adamax step in place: q.p and q.s = {exp_avg, exp_inf}.
template <class V>
void adamax(const Adamax::Args& a, Ptrs q, int64_t n) {
  const V gscale = V::set1(a.grad_scale), wd = V::set1(a.weight_decay);
  const V omb1 = V::set1(a.one_minus_beta1), b2 = V::set1(a.beta2), eps = V::set1(a.eps);
  const V neg_clr = V::set1(a.neg_clr);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V p = V::load(q.p + i, lanes);
    V g = V::load(q.g + i, lanes) * gscale;
    if (a.weight_decay != 0.0f) g = mul_add(wd, p, g);
    V m = V::load(q.s[0] + i, lanes);
    m = mul_add(omb1, g - m, m);
    m.store(q.s[0] + i, lanes);
    const V u = max(b2 * V::load(q.s[1] + i, lanes), abs(g) + eps);
    u.store(q.s[1] + i, lanes);
    mul_add(neg_clr, m / u, p).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
