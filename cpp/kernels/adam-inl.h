// Adam kernel, once for every vector type (see adam.h for the math). Included per target.
#include "kernels/adam.h"
#include "kernels/common-inl.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one Adam step in place over n elements: q.p, and state q.s = {exp_avg, exp_avg_sq,
// max_exp_avg_sq (amsgrad only)}. One read and one write of each array.
template <class V>
void adam(const Adam::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V> prep(a.prep);
  const MomentsV<V> moments(a.moments);
  const V inv_bc2 = V::set1(a.inv_bias_correction2_sqrt), eps = V::set1(a.eps);
  const V neg_step = V::set1(a.neg_step_size);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(q, i, lanes, p, g);
    const V m = moments.first(q.s[0] + i, g, lanes);
    V v = moments.second(q.s[1] + i, g, lanes);
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
