// Adamax (Kingma & Ba 2015, section 7.1) as torch.optim computes it.
//   g <- -g if maximize;  g <- g + wd * p
//   m <- m + (1 - b1) * (g - m)
//   u <- max(b2 * u, |g| + eps)                 (eps inside the max)
//   p <- p - lr / (1 - b1^t) * m / u
#pragma once
#include <cmath>

#include "kernels/rule.h"

namespace fastoptim {

struct Adamax : NoScalars {
  static constexpr const char* kName = "Adamax";
  static constexpr int kSlots = 2;
  static constexpr const char* kSlotNames[kSlots] = {"exp_avg", "exp_inf"};

  using Hyper = AdamFamilyHyper;  // no decoupled_weight_decay option
  struct Args {
    GradPrep prep;
    Moments moments;  // the first moment; exp_inf uses beta2 in its own way
    float beta2, eps, neg_clr;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.read_common(g, /*has_decoupled_option=*/false);
    return h;
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t step, double*) {
    Args a{};
    a.prep = h.prep();
    a.moments = h.moments();
    a.beta2 = static_cast<float>(h.beta2);
    a.eps = static_cast<float>(h.eps);
    a.neg_clr = static_cast<float>(-h.lr / (1.0 - std::pow(h.beta1, static_cast<double>(step))));
    return a;
  }
};

}  // namespace fastoptim
