// SGD kernel, once for every vector type (see sgd.h for the math). Included per target.
#include "kernels/common-inl.h"
#include "kernels/io-inl.h"
#include "kernels/sgd.h"

namespace fastoptim {
namespace FO_TARGET {

template <class V>
struct SgdV {
  explicit SgdV(const Sgd::Args& a)
      : a(a), prep(a.prep), mom(V::set1(a.momentum)), damp(V::set1(a.one_minus_dampening)),
        inv_mom(V::set1(1.0f / a.momentum)), neg_lr(V::set1(a.neg_lr)), lr(-neg_lr) {}

  // The new momentum buffer from the old one and the prepared gradient.
  V buffer(V buf, V g) const { return a.first ? g : mul_add(mom, buf, damp * g); }

  // The step direction from the prepared gradient and the new momentum buffer.
  V direction(V g, V buf) const {
    return !a.use_momentum ? g : a.nesterov ? mul_add(mom, buf, g) : buf;
  }
  // The parameter before the step, from the one after it and the step direction d...
  V before(V p, V d) const { return mul_add(lr, d, p); }
  // ...recomputed (io-inl.h).
  V guess(V p, V g0, const V* /*old*/, const V* now) const {
    if (a.use_momentum && !a.nesterov) return before(p, now[0]);  // reads no g
    return prep.solve(
        p, g0, [&](V x) { return before(p, direction(prep.grad(x, g0), now[0])); },
        [&] { return std::array<V, 2>{neg_lr, a.nesterov ? neg_lr * mom * now[0] : V::set1(0.0f)}; });
  }

  // The momentum buffer is updated in place by a guarded step and restored from its new value
  // (io-inl.h): estimate() inverts buffer(). The first step's buffer is the gradient, and the
  // old one was zeros.
  uint32_t restored_slots() const { return a.use_momentum ? Sgd::kRestoredSlots : 0u; }
  V estimate(int /*k*/, V now, V g) const {
    return a.first ? V::set1(0.0f) : (now - damp * g) * inv_mom;
  }

  const Sgd::Args& a;
  const PreparedGrad<V> prep;
  const V mom, damp, inv_mom, neg_lr, lr;
};

// One SGD step over n elements of q.p (and q.s[0], the momentum buffer).
template <class V, class Io>
void sgd(const Sgd::Args args, Ptrs q, int64_t n, Io io_args) {
  using Args = Sgd::Args;
  specialize<Sgd::kRestoredSlots>(
      n, args, io_args,
      [q, n](const Args& a, auto& io) FO_INLINE {
        const SgdV<V> c(a);
        for_each_vector<V::N>(n, [&](int64_t i, auto lanes) FO_INLINE {
          V p0, g0, p, g, now[kMaxSlots] = {};
          c.prep.load(q, i, lanes, p0, g0, p, g);
          if (a.use_momentum) {
            // The first step copies the gradient into the buffer, without dampening (as torch).
            const V buf = V::load(q.s[0] + i, lanes);
            now[0] = c.buffer(buf, g);
            io.state(q, 0, i, lanes, now[0], buf, [&] { return c.estimate(0, now[0], g); });
          }
          const V d = c.direction(g, now[0]);
          const V p1 = mul_add(c.neg_lr, d, p);
          io.param(q, i, lanes, p0, g0, p1, [&] { return fast_guess(c, p1, d, g0, nullptr, now); });
        });
      },
      Flag<&Args::use_momentum>{}, Flag<&Args::nesterov>{}, Flag<&Args::first>{},
      Flag<&GradPrep::coupled>{});
}

}  // namespace FO_TARGET
}  // namespace fastoptim
