// NAdam kernel (see nadam.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/nadam.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one NAdam step in place: q.p and q.s = {exp_avg, exp_avg_sq}.
template <class V>
void nadam(const Nadam::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V> prep(a.prep);
  const MomentsV<V> moments(a.moments);
  const V inv_bc2 = V::set1(a.inv_bias_correction2), eps = V::set1(a.eps);
  const V cg = V::set1(a.grad_coef), cm = V::set1(a.exp_avg_coef);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(q, i, lanes, p, g);
    const V m = moments.first(q.s[0] + i, g, lanes);
    const V v = moments.second(q.s[1] + i, g, lanes);
    const V denom = sqrt(v * inv_bc2) + eps;
    (p + mul_add(cg, g, cm * m) / denom).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
