// Adam (Kingma & Ba 2015) as torch.optim computes it, with AMSGrad, maximize, and either L2
// (coupled) or decoupled (AdamW) weight decay.
//   g <- -g if maximize;  g <- g + wd * p (coupled)  |  p <- p * (1 - lr * wd) (decoupled)
//   m <- m + (1 - b1) * (g - m);  v <- b2 * v + (1 - b2) * g^2
//   s <- max(vmax, v) -> vmax if amsgrad else v
//   p <- p - lr / (1 - b1^t) * m / (sqrt(s) / sqrt(1 - b2^t) + eps)
#pragma once
#include <cmath>

#include "kernels/rule.h"

namespace fastoptim {

struct Adam : NoScalars {
  static constexpr const char* kName = "Adam";
  static constexpr int kSlots = 3;
  static constexpr const char* kSlotNames[kSlots] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

  struct Hyper : AdamFamilyHyper {
    bool amsgrad;
  };
  struct Args {
    GradPrep prep;
    Moments moments;
    float inv_bias_correction2_sqrt, eps, neg_step_size;
    int32_t amsgrad;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.read_common(g, /*has_decoupled_option=*/true);
    h.amsgrad = g.flag("amsgrad");
    return h;
  }
  static bool needs_slot(const Hyper& h, int slot) { return slot < 2 || h.amsgrad; }
  static Args args(const Hyper& h, int64_t step, double* /*scalars*/) {
    const double t = static_cast<double>(step);
    Args a{};
    a.prep = h.prep();
    a.moments = h.moments();
    a.inv_bias_correction2_sqrt = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(h.beta2, t)));
    a.eps = static_cast<float>(h.eps);
    a.neg_step_size = static_cast<float>(-h.lr / (1.0 - std::pow(h.beta1, t)));
    a.amsgrad = h.amsgrad;
    return a;
  }
};

}  // namespace fastoptim
