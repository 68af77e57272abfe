// RMSprop kernel (see rmsprop.h for the math). Included per target.
#include "kernels/rmsprop.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one RMSprop step in place: q.p and q.s = {square_avg, momentum_buffer, grad_avg}.
template <class V>
void rmsprop(const Rmsprop::Args& a, Ptrs q, int64_t n) {
  const V gscale = V::set1(a.grad_scale), wd = V::set1(a.weight_decay);
  const V alpha = V::set1(a.alpha), oma = V::set1(a.one_minus_alpha), eps = V::set1(a.eps);
  const V mom = V::set1(a.momentum), neg_lr = V::set1(a.neg_lr);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V p = V::load(q.p + i, lanes);
    V g = V::load(q.g + i, lanes) * gscale;
    if (a.weight_decay != 0.0f) g = mul_add(wd, p, g);
    const V sq = mul_add(alpha, V::load(q.s[0] + i, lanes), oma * g * g);
    sq.store(q.s[0] + i, lanes);
    V var = sq;
    if (a.centered) {
      V ga = V::load(q.s[2] + i, lanes);
      ga = mul_add(oma, g - ga, ga);
      ga.store(q.s[2] + i, lanes);
      var = sq - ga * ga;
    }
    const V avg = sqrt(var) + eps;
    if (a.use_momentum) {
      const V buf = mul_add(mom, V::load(q.s[1] + i, lanes), g / avg);
      buf.store(q.s[1] + i, lanes);
      mul_add(neg_lr, buf, p).store(q.p + i, lanes);
    } else {
      mul_add(neg_lr, g / avg, p).store(q.p + i, lanes);
    }
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
