// RAdam kernel (see radam.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/radam.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one RAdam step in place: q.p and q.s = {exp_avg, exp_avg_sq}.
template <class V>
void radam(const Radam::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V> prep(a.prep);
  const MomentsV<V> moments(a.moments);
  const V eps = V::set1(a.eps), coef = V::set1(a.neg_coef);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(q, i, lanes, p, g);
    const V m = moments.first(q.s[0] + i, g, lanes);
    const V v = moments.second(q.s[1] + i, g, lanes);
    // Early steps (rho_t <= 5) take an un-adapted momentum step.
    const V step = a.rectified ? m / (sqrt(v) + eps) : m;
    mul_add(coef, step, p).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
