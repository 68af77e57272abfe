// SGD kernel, once for every vector type (see sgd.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/sgd.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one SGD step in place over n elements of q.p (and q.s[0], the momentum buffer).
template <class V>
void sgd(const Sgd::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V> prep(a.prep);
  const V mom = V::set1(a.momentum), damp = V::set1(a.one_minus_dampening);
  const V neg_lr = V::set1(a.neg_lr);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(q, i, lanes, p, g);
    if (a.use_momentum) {
      // The first step copies the gradient into the buffer, without dampening (as torch).
      const V buf = a.first ? g : mul_add(mom, V::load(q.s[0] + i, lanes), damp * g);
      buf.store(q.s[0] + i, lanes);
      g = a.nesterov ? mul_add(mom, buf, g) : buf;
    }
    mul_add(neg_lr, g, p).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
