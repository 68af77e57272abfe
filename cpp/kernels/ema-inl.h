// EMA kernels (see ema.h). Included per target. Neither reads a gradient.
#include "kernels/ema.h"

namespace fastoptim {
namespace FO_TARGET {

// Computes shadow <- shadow + (1 - decay) * (p - shadow) in place on q.s[0].
template <class V>
void ema_update(const EmaUpdate::Args& a, Ptrs q, int64_t n) {
  const V w = V::set1(a.one_minus_decay);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V s = V::load(q.s[0] + i, lanes);
    mul_add(w, V::load(q.p + i, lanes) - s, s).store(q.s[0] + i, lanes);
  });
}

// Exchanges q.p and q.s[0] element by element.
template <class V>
void ema_swap(const EmaSwap::Args&, Ptrs q, int64_t n) {
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V p = V::load(q.p + i, lanes);
    V::load(q.s[0] + i, lanes).store(q.p + i, lanes);
    p.store(q.s[0] + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
