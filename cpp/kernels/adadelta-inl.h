// Adadelta kernel (see adadelta.h for the math). Included per target.
#include "kernels/adadelta.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one Adadelta step in place: q.p and q.s = {square_avg, acc_delta}.
template <class V>
void adadelta(const Adadelta::Args& a, Ptrs q, int64_t n) {
  const V gscale = V::set1(a.grad_scale), wd = V::set1(a.weight_decay);
  const V rho = V::set1(a.rho), omr = V::set1(a.one_minus_rho), eps = V::set1(a.eps);
  const V neg_lr = V::set1(a.neg_lr);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V p = V::load(q.p + i, lanes);
    V g = V::load(q.g + i, lanes) * gscale;
    if (a.weight_decay != 0.0f) g = mul_add(wd, p, g);
    const V sq = mul_add(rho, V::load(q.s[0] + i, lanes), omr * g * g);
    sq.store(q.s[0] + i, lanes);
    const V acc = V::load(q.s[1] + i, lanes);
    const V delta = sqrt(acc + eps) / sqrt(sq + eps) * g;
    mul_add(rho, acc, omr * delta * delta).store(q.s[1] + i, lanes);
    mul_add(neg_lr, delta, p).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
