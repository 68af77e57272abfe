// The only place that starts threads. Work is a global index range [0, total) split into one
// contiguous piece per thread, with boundaries on multiples of kAlign elements (a 64-byte cache
// line of 16-bit values, two of floats, and a whole number of vectors on every target) so that
// threads never share a line and every element sees the same arithmetic whatever the thread
// count, in the calling thread's floating-point mode (FloatMode).
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace fastoptim {

constexpr int64_t kAlign = 32;
// Below this many elements per thread, starting threads costs more than it saves.
constexpr int64_t kMinPerThread = int64_t{1} << 15;

int num_threads();
void set_num_threads(int n);

// How many pieces parallel_pieces splits [0, total) into (one per thread used).
inline int piece_count(int64_t total, int64_t weight = 1) {
  const int64_t want = std::min<int64_t>(num_threads(), total * weight / kMinPerThread);
  return want <= 1 ? 1 : static_cast<int>(want);
}

// The calling thread's floating-point mode (x86: MXCSR's control bits: flush-to-zero,
// denormals-are-zero, rounding, exception masks), for the worker threads of a parallel region
// to take on while they work for it. Each thread has its own, and a worker keeps the one it
// started with: a caller that changes its mode later (torch.set_flush_denormal(True), say)
// would otherwise see its pieces and the workers' computed differently, and results change
// with the thread count.
class FloatMode {
 public:
#if defined(__x86_64__) || defined(__i386__)
  FloatMode() : csr_(_mm_getcsr() & kControl) {}
  // While a Scope lives, the current thread computes in the mode m holds.
  class Scope {
   public:
    explicit Scope(const FloatMode& m) : saved_(_mm_getcsr() & kControl) {
      changed_ = saved_ != m.csr_;
      if (changed_) _mm_setcsr((_mm_getcsr() & ~kControl) | m.csr_);
    }
    // Back to the thread's own mode; the exception flags the work raised stay raised.
    ~Scope() {
      if (changed_) _mm_setcsr((_mm_getcsr() & ~kControl) | saved_);
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    unsigned saved_;
    bool changed_;
  };

 private:
  static constexpr unsigned kControl = 0xffc0u;  // bits 6-15; 0-5 are the sticky flags
  unsigned csr_;
#else
  struct Scope {
    explicit Scope(const FloatMode&) {}
  };
#endif
};

// Calls f(piece, begin, end) for the piece_count() pieces covering [0, total), each on its own
// thread, in the calling thread's floating-point mode (FloatMode); empty pieces are not
// called. `weight` is the work per element relative to an element-wise update (more work per
// element makes threading pay off sooner); pieces start on multiples of `align` (a multiple of
// kAlign).
template <class F>
void parallel_pieces(int64_t total, F&& f, int64_t weight = 1, int64_t align = kAlign) {
  const int threads = piece_count(total, weight);
  if (threads == 1) {
    if (total > 0) f(0, int64_t{0}, total);
    return;
  }
  const int64_t lines = (total + align - 1) / align;
  const FloatMode mode;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
  for (int t = 0, nt = threads; t < nt; ++t) {
#endif
    const FloatMode::Scope in_mode(mode);
    const int64_t begin = std::min(total, lines * t / nt * align);
    const int64_t end = std::min(total, lines * (t + 1) / nt * align);
    if (begin < end) f(t, begin, end);
  }
}

// Calls f(begin, end) over pieces covering [0, total), on up to num_threads() threads.
template <class F>
void parallel_ranges(int64_t total, F&& f, int64_t weight = 1, int64_t align = kAlign) {
  parallel_pieces(
      total, [&f](int, int64_t begin, int64_t end) { f(begin, end); }, weight, align);
}

}  // namespace fastoptim
