// NAdam kernel (see nadam.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"
#include "kernels/nadam.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct NadamV {
  explicit NadamV(const Nadam::Args& a)
      : prep(a.prep), moments(a.moments), inv_bc2(V::set1(a.inv_bias_correction2)),
        eps(V::set1(a.eps)), cg(V::set1(a.grad_coef)), cm(V::set1(a.exp_avg_coef)) {}

  // The (signed) update: a mix of the gradient and the new first moment over the denominator.
  V update(V g, V m, V v) const { return mul_add(cg, g, cm * m) / (sqrt(v * inv_bc2) + eps); }
  V before(V p, V u) const { return prep.unscale(p - u); }
  V guess(V p, V g0, const V* /*old*/, const V* now) const {
    return prep.solve(
        p, g0, [&](V x) { return before(p, update(prep.grad(x, g0), now[0], now[1])); },
        [&] {
          const V denom = sqrt(now[1] * inv_bc2) + eps;
          return std::array<V, 2>{cg / denom, cm * now[0] / denom};
        });
  }
  // m and v are updated in place by a guarded step and restored from their new
  // values (io-inl.h, MomentsV::estimate).
  uint32_t restored_slots() const { return Nadam::kRestoredSlots; }
  V estimate(int k, V now, V g) const { return moments.estimate(k, now, g); }

  const PreparedGrad<V> prep;
  const MomentsV<V> moments;
  const V inv_bc2, eps, cg, cm;
};

// One NAdam step over n elements: q.p and state q.s = {exp_avg, exp_avg_sq}.
template <class V, class Io>
void nadam(const Nadam::Args args, Ptrs q, int64_t n, Io io_args) {
  using Args = Nadam::Args;
  specialize<Nadam::kRestoredSlots>(
      n, args, io_args,
      [q, n](const Args& a, auto& io) FO_INLINE {
        const NadamV<V> c(a);
        for_each_vector<V::N>(n, [&](int64_t i, auto lanes) FO_INLINE {
          V p0, g0, p, g, now[kMaxSlots] = {};
          c.prep.load(q, i, lanes, p0, g0, p, g);
          c.moments.update(q, i, lanes, io, g, now);
          const V u = c.update(g, now[0], now[1]);
          const V p1 = p + u;
          io.param(q, i, lanes, p0, g0, p1, [&] { return fast_guess(c, p1, u, g0, nullptr, now); });
        });
      },
      Flag<&GradPrep::coupled>{}, Flag<&GradPrep::decoupled>{});
}

}  // namespace FO_TARGET
}  // namespace fastoptim
