// Exponential moving average of the weights, and the swap that evaluates with it.
//   EmaUpdate:  shadow <- shadow + (1 - decay) * (p - shadow)
//   EmaSwap:    (p, shadow) <- (shadow, p)
#pragma once
#include "kernels/rule.h"

namespace fastoptim {

struct EmaUpdate : NoScalars {
  static constexpr const char* kName = "EMA";
  static constexpr int kSlots = 1;
  static constexpr const char* kSlotNames[kSlots] = {"shadow"};

  struct Hyper {
    double decay;
  };
  struct Args {
    float one_minus_decay;
  };

  template <class G>
  static Hyper read(G& g) {
    return Hyper{g.real("decay", Bound::kClosedUnit)};
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t, double*) {
    return Args{static_cast<float>(1.0 - h.decay)};
  }
};

struct EmaSwap : NoScalars {
  static constexpr const char* kName = "EMA swap";
  static constexpr int kSlots = 1;
  static constexpr const char* kSlotNames[kSlots] = {"shadow"};

  struct Hyper {};
  struct Args {
    float unused;
  };

  template <class G>
  static Hyper read(G&) {
    return {};
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper&, int64_t, double*) { return Args{0.0f}; }
};

}  // namespace fastoptim
