// NAdam kernel (see nadam.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/nadam.h"

namespace fastoptim {
namespace FO_TARGET {

// One NAdam step over n elements: q.p and state q.s = {exp_avg, exp_avg_sq}.
template <class V, class F>
void step(const Nadam::Args& args, Ptrs q, int64_t n) {
  using Args = Nadam::Args;
  specialize(
      args,
      [q, n](const Args& a) FO_INLINE {
        const PreparedGrad<V, F::kGrad> prep(a.prep);
        const StateIo<V, F::kState> st(q);
        const MomentsV<V> moments(a.moments);
        const V inv_bc2 = V::set1(a.inv_bias_correction2), eps = V::set1(a.eps),
                cg = V::set1(a.grad_coef), cm = V::set1(a.exp_avg_coef);
        for_each_vector<V::N>(n, [&](int64_t i, auto lanes) FO_INLINE {
          V p, g, m, v;
          prep.load(q, i, lanes, p, g);
          moments.update(st, i, lanes, g, m, v);
          // The (signed) update: a mix of the gradient and the new first moment over the
          // denominator.
          (p + mul_add(cg, g, cm * m) / (sqrt(v * inv_bc2) + eps)).store(q.p + i, lanes);
        });
      },
      Flag<&GradPrep::coupled>{}, Flag<&GradPrep::decoupled>{});
}

}  // namespace FO_TARGET
}  // namespace fastoptim
