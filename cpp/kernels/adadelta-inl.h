// Adadelta kernel (see adadelta.h for the math). Included per target.
#include "kernels/adadelta.h"
#include "kernels/common-inl.h"

namespace fastoptim {
namespace FO_TARGET {

// One Adadelta step over n elements: q.p and state q.s = {square_avg, acc_delta}.
template <class V, class F>
void step(const Adadelta::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V, F> prep(a.prep, q);
  StateIo<V, F> st(q);
  const MomentsV<V> averages(a.averages);
  const V eps = V::set1(a.eps), neg_lr = V::set1(a.neg_lr);
  st.for_each(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(i, lanes, p, g);
    const V square_avg = averages.second(st.load(0, i, lanes), g);
    st.store(0, i, lanes, square_avg);
    // The update from the old accumulated delta and the new square average.
    const V acc_delta = st.load(1, i, lanes);
    const V delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g;
    st.store(1, i, lanes, averages.second(acc_delta, delta));
    prep.store(i, lanes, mul_add(neg_lr, delta, p));
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
