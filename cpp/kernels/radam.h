// RAdam (Liu et al. 2020) as torch.optim computes it, with optional decoupled weight decay.
//   g <- -g if maximize;  g <- g + wd * p (coupled)  |  p <- p * (1 - lr * wd) (decoupled)
//   m <- m + (1 - b1) * (g - m);  v <- b2 * v + (1 - b2) * g^2
//   rho_inf = 2 / (1 - b2) - 1;  rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
//   if rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
//                  p <- p - lr * m / (1 - b1^t) * r * sqrt(1 - b2^t) / (sqrt(v) + eps)
//   else:          p <- p - lr * m / (1 - b1^t)
#pragma once
#include <cmath>

#include "kernels/rule.h"

namespace fastoptim {

struct Radam : NoScalars {
  static constexpr const char* kName = "RAdam";
  static constexpr int kSlots = 2;
  static constexpr const char* kSlotNames[kSlots] = {"exp_avg", "exp_avg_sq"};

  using Hyper = AdamFamilyHyper;
  struct Args {
    GradPrep prep;
    Moments moments;
    float eps, neg_coef;
    int32_t rectified;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.read_common(g, /*has_decoupled_option=*/true);
    return h;
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t step, double*) {
    const double t = static_cast<double>(step);
    const double bc1 = 1.0 - std::pow(h.beta1, t), bc2 = 1.0 - std::pow(h.beta2, t);
    const double rho_inf = 2.0 / (1.0 - h.beta2) - 1.0;
    const double rho_t = rho_inf - 2.0 * t * std::pow(h.beta2, t) / bc2;
    Args a{};
    a.prep = h.prep();
    a.moments = h.moments();
    a.eps = static_cast<float>(h.eps);
    a.rectified = rho_t > 5.0;
    if (a.rectified) {
      const double r = std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                 ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
      a.neg_coef = static_cast<float>(-h.lr / bc1 * r * std::sqrt(bc2));
    } else {
      a.neg_coef = static_cast<float>(-h.lr / bc1);
    }
    return a;
  }
};

}  // namespace fastoptim
