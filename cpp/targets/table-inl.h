// Instantiates every kernel for the vector type of the including target. Each targets/<t>.cc
// defines FO_TARGET (the namespace that keeps its code apart from other targets', so the linker
// never mixes instruction sets) and includes its simd/vec_<t>.h before this file.
#include "dispatch.h"
#include "kernels/adam-inl.h"
#include "kernels/sgd-inl.h"
#include "kernels/traffic-inl.h"

namespace fastoptim {
namespace FO_TARGET {

const Kernels* table() {
  static const Kernels k = {
      FO_TARGET_NAME,
      &sgd<Vec>,
      &adam<Vec>,
      &traffic<Vec>,
  };
  return &k;
}

}  // namespace FO_TARGET
}  // namespace fastoptim
