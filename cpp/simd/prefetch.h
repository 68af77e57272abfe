// Software prefetch for the streaming kernels (x86 targets only).
#pragma once
#include <immintrin.h>

namespace fastoptim {
namespace FO_TARGET {  // per target, like all code compiled with target flags

// Every full-vector load also asks for the line 4 KiB further down the same stream: update rules
// interleave 3 to 6 streams with long sqrt/divide chains, which the hardware prefetchers alone
// do not keep fed (the "% of ceiling" column of bench/results/results.md). Prefetching past the
// end of an array is harmless.
inline void prefetch_ahead(const float* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + 1024), _MM_HINT_T0);
}

}  // namespace FO_TARGET
}  // namespace fastoptim
