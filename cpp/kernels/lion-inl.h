// Lion kernel (see lion.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/lion.h"

namespace fastoptim {
namespace FO_TARGET {

// One Lion step over n elements: q.p and q.s[0] (exp_avg).
template <class V, class F>
void step(const Lion::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V, F> prep(a.prep, q);
  StateIo<V, F> st(q);
  const MomentsV<V> momentum(a.momentum);
  const V omb1 = V::set1(a.one_minus_beta1), neg_lr = V::set1(a.neg_lr);
  st.for_each(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(i, lanes, p, g);
    const V m = st.load(0, i, lanes);
    // The update direction interpolates the old momentum and g with beta1, the stored momentum
    // with beta2.
    const V d = sign(mul_add(omb1, g - m, m));
    st.store(0, i, lanes, momentum.first(m, g));
    prep.store(i, lanes, mul_add(neg_lr, d, p));
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
