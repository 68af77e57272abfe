// SGD kernel, once for every vector type (see sgd.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/sgd.h"

namespace fastoptim {
namespace FO_TARGET {

// One SGD step over n elements of q.p (and q.s[0], the momentum buffer).
template <class V, class F>
void step(const Sgd::Args& args, Ptrs q, int64_t n) {
  using Args = Sgd::Args;
  specialize<F>(
      args,
      [q, n](const Args& a) FO_INLINE {
        const PreparedGrad<V, F> prep(a.prep, q);
        StateIo<V, F> st(q);
        const V mom = V::set1(a.momentum), damp = V::set1(a.one_minus_dampening),
                neg_lr = V::set1(a.neg_lr);
        st.for_each(n, [&](int64_t i, auto lanes) FO_INLINE {
          V p, g;
          prep.load(i, lanes, p, g);
          V d = g;
          if (a.use_momentum) {
            // The first step copies the gradient into the buffer, without dampening (as torch).
            const V buf = a.first ? g : mul_add(mom, st.load(0, i, lanes), damp * g);
            st.store(0, i, lanes, buf);
            d = a.nesterov ? mul_add(mom, buf, g) : buf;
          }
          prep.store(i, lanes, mul_add(neg_lr, d, p));
        });
      },
      Flag<&Args::use_momentum>{}, Flag<&Args::nesterov>{}, Flag<&Args::first>{},
      Flag<&GradPrep::coupled>{});
}

}  // namespace FO_TARGET
}  // namespace fastoptim
