// Adam kernel, once for every vector type (see adam.h for the math). Included per target.
#include "kernels/adam.h"
#include "kernels/common-inl.h"

namespace fastoptim {
namespace FO_TARGET {

// One Adam step over n elements: q.p, and state q.s = {exp_avg, exp_avg_sq, max_exp_avg_sq
// (amsgrad only)}. One read and one write of each array.
template <class V, class F>
void step(const Adam::Args& args, Ptrs q, int64_t n) {
  using Args = Adam::Args;
  specialize<F>(
      args,
      [q, n](const Args& a) FO_INLINE {
        const PreparedGrad<V, F> prep(a.prep, q);
        StateIo<V, F> st(q);
        const MomentsV<V> moments(a.moments);
        const V inv_bc2 = V::set1(a.inv_bias_correction2_sqrt), eps = V::set1(a.eps),
                neg_step = V::set1(a.neg_step_size);
        st.for_each(n, [&](int64_t i, auto lanes) FO_INLINE {
          V p, g, m, v;
          prep.load(i, lanes, p, g);
          moments.update(st, i, lanes, g, m, v);
          if (a.amsgrad) {
            v = max(st.load(2, i, lanes), v);
            st.store(2, i, lanes, v);
          }
          // sqrt(v) / sqrt(1 - b2^t) as a multiply: one divide per element is the throughput
          // limit.
          prep.store(i, lanes, mul_add(neg_step, m / mul_add(sqrt(v), inv_bc2, eps), p));
        });
      },
      Flag<&Args::amsgrad>{}, Flag<&GradPrep::coupled>{}, Flag<&GradPrep::decoupled>{});
}

}  // namespace FO_TARGET
}  // namespace fastoptim
