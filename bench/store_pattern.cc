// What does this machine charge for streaming stores? The memory pattern of an Adam step
// (p read and written, g read, two state arrays read and written) at 2^26 elements, with
// arithmetic cheap enough to stay memory-bound, and the state written five ways:
//   in place             plain stores back to the arrays read (what nonfinite="propagate" does)
//   in place, streaming  streaming (non-temporal) stores back to the same arrays
//   guarded              streaming stores to second arrays (what nonfinite="skip" does)
//   guarded, plain       plain stores to second arrays (each line is read first: +4 B/elem)
//   one array guarded    one state array streamed to a second array, the other in place
// Each variant's cost is the median, over repetitions, of its time over the in-place time in
// the same repetition. If "in place, streaming" costs as much as "guarded", the price is the
// store instruction, not the second buffer.
//
// Not part of the package; build and run by hand (any x86-64 with AVX2 or AVX-512):
//   g++ -O2 -mavx2 -mfma -fopenmp bench/store_pattern.cc -o /tmp/store_pattern     # AVX2
//   g++ -O2 -mavx512f -fopenmp bench/store_pattern.cc -o /tmp/store_pattern        # AVX-512
//   OMP_NUM_THREADS=1 /tmp/store_pattern 31; OMP_NUM_THREADS=2 /tmp/store_pattern 31
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef __AVX512F__
using Vec = __m512;
constexpr int kLanes = 16;
#define FO_PS(op) _mm512_##op##_ps
#else
using Vec = __m256;
constexpr int kLanes = 8;
#define FO_PS(op) _mm256_##op##_ps
#endif
static Vec load(const float* p) { return FO_PS(load)(p); }
static void store(float* p, Vec x) { FO_PS(store)(p, x); }
static void stream(float* p, Vec x) { FO_PS(stream)(p, x); }
static Vec set1(float x) { return FO_PS(set1)(x); }
static Vec fma(Vec a, Vec b, Vec c) { return FO_PS(fmadd)(a, b, c); }
static Vec mul(Vec a, Vec b) { return FO_PS(mul)(a, b); }

enum Mode { kInPlace, kInPlaceStream, kGuarded, kGuardedPlain, kOneGuarded, kModes };
static const char* kNames[kModes] = {"in place", "in place, streaming", "guarded",
                                     "guarded, plain", "one array guarded"};

struct Arrays {
  float *p, *g, *m, *v, *m2, *v2;
};

static void step(Mode mode, int64_t n, const Arrays& a) {
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    const int64_t chunk = n / threads / kLanes * kLanes;
    const int64_t lo = t * chunk, hi = t == threads - 1 ? n : lo + chunk;
    const Vec b1 = set1(0.9f), c1 = set1(0.1f), b2 = set1(0.999f), c2 = set1(1e-3f),
              lr = set1(-1e-3f), eps = set1(1e-8f);
    for (int64_t i = lo; i < hi; i += kLanes) {
      const Vec g = load(a.g + i);
      const Vec m = fma(b1, load(a.m + i), mul(c1, g));
      const Vec v = fma(b2, load(a.v + i), mul(c2, mul(g, g)));
      store(a.p + i, fma(lr, m, fma(eps, v, load(a.p + i))));  // cheap: memory-bound
      switch (mode) {
        case kInPlace: store(a.m + i, m); store(a.v + i, v); break;
        case kInPlaceStream: stream(a.m + i, m); stream(a.v + i, v); break;
        case kGuarded: stream(a.m2 + i, m); stream(a.v2 + i, v); break;
        case kGuardedPlain: store(a.m2 + i, m); store(a.v2 + i, v); break;
        default: stream(a.m2 + i, m); store(a.v + i, v); break;
      }
    }
    _mm_sfence();
  }
}

static float* array(int64_t n, float value) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, n * sizeof(float))) std::abort();
  float* f = static_cast<float*>(p);
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) f[i] = value;
  return f;
}

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 31;
  const int log2n = argc > 2 ? std::atoi(argv[2]) : 26;
  if (reps < 1 || log2n < 10 || log2n > 32) {
    std::fprintf(stderr, "usage: %s [repetitions >= 1] [log2 elements, 10..32]\n", argv[0]);
    return 2;
  }
  const int64_t n = int64_t{1} << log2n;
  const Arrays a{array(n, 1.0f), array(n, 0.01f), array(n, 0.0f),
                 array(n, 1e-4f), array(n, 0.0f), array(n, 1e-4f)};
  for (int m = 0; m < kModes; ++m) step(static_cast<Mode>(m), n, a);  // warm-up, page faults
  std::vector<std::vector<double>> secs(kModes);
  for (int r = 0; r < reps; ++r)
    for (int k = 0; k < kModes; ++k) {
      const int m = (k + r) % kModes;  // order rotated every repetition
      const auto t0 = std::chrono::steady_clock::now();
      step(static_cast<Mode>(m), n, a);
      secs[m].push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  std::printf("%d thread(s), 2^%d elements, %d repetitions, %d-lane vectors\n",
              omp_get_max_threads(), __builtin_ctzll(n), reps, kLanes);
  std::printf("| state written | median ms | over in place (quartiles) |\n|---|--:|---|\n");
  for (int m = 0; m < kModes; ++m) {
    std::vector<double> s = secs[m], ratio;
    for (int r = 0; r < reps; ++r) ratio.push_back(100 * (secs[m][r] / secs[0][r] - 1));
    std::sort(s.begin(), s.end());
    std::sort(ratio.begin(), ratio.end());
    std::printf("| %s | %.1f | %+.1f%% (%+.1f%% .. %+.1f%%) |\n", kNames[m], 1e3 * s[reps / 2],
                ratio[reps / 2], ratio[reps / 4], ratio[3 * reps / 4]);
  }
}
