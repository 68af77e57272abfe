// RMSprop kernel (see rmsprop.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/rmsprop.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one RMSprop step in place: q.p and q.s = {square_avg, momentum_buffer, grad_avg}.
template <class V>
void rmsprop(const Rmsprop::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V> prep(a.prep);
  const MomentsV<V> averages(a.averages);
  const V eps = V::set1(a.eps), mom = V::set1(a.momentum), neg_lr = V::set1(a.neg_lr);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(q, i, lanes, p, g);
    V var = averages.second(q.s[0] + i, g, lanes);
    if (a.centered) {
      const V ga = averages.first(q.s[2] + i, g, lanes);
      var = var - ga * ga;
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
