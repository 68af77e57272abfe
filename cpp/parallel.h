// The only place that starts threads. Work is a global index range [0, total) split into one
// contiguous piece per thread, with boundaries on multiples of kAlign elements (one 64-byte cache
// line of floats, and a whole number of vectors on every target) so that threads never share a
// line and every element sees the same arithmetic whatever the thread count.
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastoptim {

constexpr int64_t kAlign = 16;
// Below this many elements per thread, starting threads costs more than it saves.
constexpr int64_t kMinPerThread = int64_t{1} << 15;

int num_threads();
void set_num_threads(int n);

// How many pieces parallel_pieces splits [0, total) into (one per thread used).
inline int piece_count(int64_t total, int64_t weight = 1) {
  const int64_t want = std::min<int64_t>(num_threads(), total * weight / kMinPerThread);
  return want <= 1 ? 1 : static_cast<int>(want);
}

// Calls f(piece, begin, end) for the piece_count() pieces covering [0, total), each on its own
// thread; empty pieces are not called. `weight` is the work per element relative to an
// element-wise update (more work per element makes threading pay off sooner).
template <class F>
void parallel_pieces(int64_t total, F&& f, int64_t weight = 1) {
  const int threads = piece_count(total, weight);
  if (threads == 1) {
    if (total > 0) f(0, int64_t{0}, total);
    return;
  }
  const int64_t lines = (total + kAlign - 1) / kAlign;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
  for (int t = 0, nt = threads; t < nt; ++t) {
#endif
    const int64_t begin = std::min(total, lines * t / nt * kAlign);
    const int64_t end = std::min(total, lines * (t + 1) / nt * kAlign);
    if (begin < end) f(t, begin, end);
  }
}

// Calls f(begin, end) over pieces covering [0, total), on up to num_threads() threads.
template <class F>
void parallel_ranges(int64_t total, F&& f, int64_t weight = 1) {
  parallel_pieces(total, [&f](int, int64_t begin, int64_t end) { f(begin, end); }, weight);
}

}  // namespace fastoptim
