// Lookahead's synchronisation (Zhang et al. 2019): every k inner steps the slow weights move a
// fraction alpha towards the fast ones, and the fast weights restart from them.
//   slow <- slow + alpha * (p - slow);  p <- slow
#pragma once
#include "kernels/rule.h"

namespace fastoptim {

struct LookaheadSync : NoScalars {
  static constexpr const char* kName = "Lookahead";
  static constexpr int kSlots = 1;
  static constexpr const char* kSlotNames[kSlots] = {"slow"};

  struct Hyper {
    double alpha;
  };
  struct Args {
    float alpha;
  };

  template <class G>
  static Hyper read(G& g) {
    return Hyper{g.real("alpha", Bound::kClosedUnit)};
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t, double*) { return Args{static_cast<float>(h.alpha)}; }
};

}  // namespace fastoptim
