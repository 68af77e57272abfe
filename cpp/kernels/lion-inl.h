// Lion kernel (see lion.h for the math). Included per target.
#include "kernels/lion.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one Lion step in place: q.p and q.s[0] (exp_avg).
template <class V>
void lion(const Lion::Args& a, Ptrs q, int64_t n) {
  const V gscale = V::set1(a.grad_scale), scale = V::set1(a.param_scale);
  const V omb1 = V::set1(a.one_minus_beta1), omb2 = V::set1(a.one_minus_beta2);
  const V neg_lr = V::set1(a.neg_lr);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V g = V::load(q.g + i, lanes) * gscale;
    const V m = V::load(q.s[0] + i, lanes);
    const V c = mul_add(omb1, g - m, m);
    mul_add(neg_lr, sign(c), V::load(q.p + i, lanes) * scale).store(q.p + i, lanes);
    mul_add(omb2, g - m, m).store(q.s[0] + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
