// Element-wise operations on float32 arrays that are not update rules: L-BFGS's axpy and scale,
// the EMA of the weights and Lookahead's synchronisation. Included per target. The pairwise ones
// share one signature (scalar, a, b, n), for vector_ops.cc's parallel driver.
#include <cstdint>

namespace fastoptim {
namespace FO_TARGET {

// y <- y + a * x (two roundings, as a float32 tensor op: no fused multiply-add).
template <class V>
void axpy(float a, float* y, float* x, int64_t n) {
  const V va = V::set1(a);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    (V::load(y + i, lanes) + va * V::load(x + i, lanes)).store(y + i, lanes);
  });
}

// x <- f * x.
template <class V>
void scale(float f, float* x, int64_t n) {
  const V vf = V::set1(f);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    (V::load(x + i, lanes) * vf).store(x + i, lanes);
  });
}

// The EMA of the weights: avg <- avg + w * (p - avg), w = 1 - decay.
template <class V>
void ema_update(float w, float* avg, float* p, int64_t n) {
  const V vw = V::set1(w);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V s = V::load(avg + i, lanes);
    mul_add(vw, V::load(p + i, lanes) - s, s).store(avg + i, lanes);
  });
}

// Lookahead's synchronisation: slow <- slow + alpha * (p - slow), then p <- slow.
template <class V>
void lookahead_sync(float alpha, float* slow, float* p, int64_t n) {
  const V va = V::set1(alpha);
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    V s = V::load(slow + i, lanes);
    s = mul_add(va, V::load(p + i, lanes) - s, s);
    s.store(slow + i, lanes);
    s.store(p + i, lanes);
  });
}

// Exchanges a and b element by element (the unused float keeps the signature of the others).
template <class V>
void swap(float /*unused*/, float* a, float* b, int64_t n) {
  for_each_vector<V::N>(n, [&](int64_t i, auto lanes) {
    const V x = V::load(a + i, lanes);
    V::load(b + i, lanes).store(a + i, lanes);
    x.store(b + i, lanes);
  });
}

}  // namespace FO_TARGET
}  // namespace fastoptim
