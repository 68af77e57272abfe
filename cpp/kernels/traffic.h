// The bandwidth ceiling: a kernel with a rule's memory traffic and (almost) no arithmetic.
// Reads p, g and every present state slot, and writes p and those slots back unchanged
// (x <- x + 0 * g), so its speed is what the memory system allows for that traffic.
#pragma once
#include "kernels/rule.h"

namespace fastoptim {

struct Traffic : NoScalars {
  static constexpr const char* kName = "Traffic";
  static constexpr int kSlots = 3;
  static constexpr const char* kSlotNames[kSlots] = {"s0", "s1", "s2"};

  struct Hyper {
    double slots;  // the first `slots` state arrays are read and written
  };
  struct Args {
    float zero;
  };

  template <class G>
  static Hyper read(G& g) {
    return Hyper{g.real("slots", Bound::kNonNegative)};
  }
  static bool needs_slot(const Hyper& h, int slot) { return slot < h.slots; }
  static Args args(const Hyper&, int64_t, double*) { return Args{0.0f}; }
};

}  // namespace fastoptim
