// RMSprop kernel (see rmsprop.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/rmsprop.h"

namespace fastoptim {
namespace FO_TARGET {

// One RMSprop step over n elements: q.p and state q.s = {square_avg, momentum_buffer,
// grad_avg} (the last two only with momentum / centered).
template <class V>
void step(const Rmsprop::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V> prep(a.prep);
  const MomentsV<V> averages(a.averages);
  const V eps = V::set1(a.eps), mom = V::set1(a.momentum), neg_lr = V::set1(a.neg_lr);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(q, i, lanes, p, g);
    const V square_avg = averages.second(V::load(q.s[0] + i, lanes), g);
    square_avg.store(q.s[0] + i, lanes);
    V var = square_avg;
    if (a.centered) {
      const V grad_avg = averages.first(V::load(q.s[2] + i, lanes), g);
      grad_avg.store(q.s[2] + i, lanes);
      var = square_avg - grad_avg * grad_avg;
    }
    V u = g / (sqrt(var) + eps);
    if (a.use_momentum) {
      u = mul_add(mom, V::load(q.s[1] + i, lanes), u);
      u.store(q.s[1] + i, lanes);
    }
    mul_add(neg_lr, u, p).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
