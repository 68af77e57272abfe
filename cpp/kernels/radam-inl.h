// RAdam kernel (see radam.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/radam.h"

namespace fastoptim {
namespace FO_TARGET {

// One RAdam step over n elements: q.p and state q.s = {exp_avg, exp_avg_sq}.
template <class V, class F>
void step(const Radam::Args& args, Ptrs q, int64_t n) {
  using Args = Radam::Args;
  specialize<F>(
      args,
      [q, n](const Args& a) FO_INLINE {
        const PreparedGrad<V, F> prep(a.prep, q);
        StateIo<V, F> st(q);
        const MomentsV<V> moments(a.moments);
        const V eps = V::set1(a.eps), coef = V::set1(a.neg_coef);
        st.for_each(n, [&](int64_t i, auto lanes) FO_INLINE {
          V p, g, m, v;
          prep.load(i, lanes, p, g);
          moments.update(st, i, lanes, g, m, v);
          // Early steps (rho_t <= 5) take an un-adapted momentum step.
          const V d = a.rectified ? m / (sqrt(v) + eps) : m;
          prep.store(i, lanes, mul_add(coef, d, p));
        });
      },
      Flag<&Args::rectified>{}, Flag<&GradPrep::coupled>{}, Flag<&GradPrep::decoupled>{});
}

}  // namespace FO_TARGET
}  // namespace fastoptim
