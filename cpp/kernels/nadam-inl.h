// NAdam kernel (see nadam.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/nadam.h"

namespace fastoptim {
namespace FO_TARGET {

// One NAdam step over n elements: q.p and state q.s = {exp_avg, exp_avg_sq}.
template <class V, class F>
void step(const Nadam::Args& args, Ptrs q, int64_t n) {
  using Args = Nadam::Args;
  specialize<F>(
      args,
      [q, n](const Args& a) FO_INLINE {
        const PreparedGrad<V, F> prep(a.prep, q);
        StateIo<V, F> st(q);
        const MomentsV<V> moments(a.moments);
        const V inv_bc2 = V::set1(a.inv_bias_correction2), eps = V::set1(a.eps),
                cg = V::set1(a.grad_coef), cm = V::set1(a.exp_avg_coef);
        st.for_each(n, [&](int64_t i, auto lanes) FO_INLINE {
          V p, g, m, v;
          prep.load(i, lanes, p, g);
          moments.update(st, i, lanes, g, m, v);
          // The (signed) update: a mix of the gradient and the new first moment over the
          // denominator.
          prep.store(i, lanes, p + mul_add(cg, g, cm * m) / (sqrt(v * inv_bc2) + eps));
        });
      },
      Flag<&GradPrep::coupled>{}, Flag<&GradPrep::decoupled>{});
}

}  // namespace FO_TARGET
}  // namespace fastoptim
