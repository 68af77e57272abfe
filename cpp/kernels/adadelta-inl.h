// Adadelta kernel (see adadelta.h for the math). Included per target.
#include "kernels/adadelta.h"
#include "kernels/common-inl.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes one Adadelta step in place: q.p and q.s = {square_avg, acc_delta}.
template <class V>
void adadelta(const Adadelta::Args& a, Ptrs q, int64_t n) {
  const PreparedGrad<V> prep(a.prep);
  const MomentsV<V> averages(a.averages);
  const V eps = V::set1(a.eps), neg_lr = V::set1(a.neg_lr);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V p, g;
    prep.load(q, i, lanes, p, g);
    const V sq = averages.second(q.s[0] + i, g, lanes);
    const V acc = V::load(q.s[1] + i, lanes);
    const V delta = sqrt(acc + eps) / sqrt(sq + eps) * g;
    averages.second(q.s[1] + i, delta, lanes);
    mul_add(neg_lr, delta, p).store(q.p + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
