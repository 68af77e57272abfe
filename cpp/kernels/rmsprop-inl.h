// RMSprop kernel (see rmsprop.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/rmsprop.h"

namespace fastoptim {
namespace FO_TARGET {

// One RMSprop step over n elements: q.p and state q.s = {square_avg, momentum_buffer,
// grad_avg} (the last two only with momentum / centered).
template <class V, class F>
void step(const Rmsprop::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V, F> prep(a.prep, q);
  StateIo<V, F> st(q);
  const MomentsV<V> averages(a.averages);
  const V eps = V::set1(a.eps), mom = V::set1(a.momentum), neg_lr = V::set1(a.neg_lr);
  st.for_each(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(i, lanes, p, g);
    const V square_avg = averages.second(st.load(0, i, lanes), g);
    st.store(0, i, lanes, square_avg);
    V var = square_avg;
    if (a.centered) {
      const V grad_avg = averages.first(st.load(2, i, lanes), g);
      st.store(2, i, lanes, grad_avg);
      var = square_avg - grad_avg * grad_avg;
    }
    V u = g / (sqrt(var) + eps);
    if (a.use_momentum) {
      u = mul_add(mom, st.load(1, i, lanes), u);
      st.store(1, i, lanes, u);
    }
    prep.store(i, lanes, mul_add(neg_lr, u, p));
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
