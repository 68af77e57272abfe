// NAdam (Dozat 2016) as torch.optim computes it, with momentum decay and optional decoupled
// weight decay.
//   g <- -g if maximize;  g <- g + wd * p (coupled)  |  p <- p * (1 - lr * wd) (decoupled)
//   mu_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay)),  mu_{t+1} likewise
//   mu_product <- mu_product * mu_t                 (per tensor, kept in float32, starts at 1)
//   m <- m + (1 - b1) * (g - m);  v <- b2 * v + (1 - b2) * g^2
//   denom <- sqrt(v / (1 - b2^t)) + eps              (divided before the sqrt, unlike Adam)
//   p <- p - lr * (1 - mu_t) / (1 - mu_product) * g / denom
//          - lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * m / denom
#pragma once
#include <cmath>

#include "kernels/rule.h"

namespace fastoptim {

struct Nadam {
  static constexpr const char* kName = "NAdam";
  static constexpr int kSlots = 2;
  static constexpr const char* kSlotNames[kSlots] = {"exp_avg", "exp_avg_sq"};
  static constexpr int kScalars = 1;
  static constexpr std::array<const char*, 1> kScalarNames{"mu_product"};
  static constexpr std::array<double, 1> kScalarInit{1.0};

  struct Hyper : AdamFamilyHyper {
    double momentum_decay;
  };
  struct Args {
    GradPrep prep;
    Moments moments;
    float inv_bias_correction2, eps, grad_coef, exp_avg_coef;
  };

  template <class G>
  static Hyper read(G& g) {
    Hyper h;
    h.read_common(g, /*has_decoupled_option=*/true);
    h.momentum_decay = g.real("momentum_decay", Bound::kNonNegative);
    return h;
  }
  static bool needs_slot(const Hyper&, int) { return true; }
  static Args args(const Hyper& h, int64_t step, double* scalars) {
    const double t = static_cast<double>(step);
    const double mu = h.beta1 * (1.0 - 0.5 * std::pow(0.96, t * h.momentum_decay));
    const double mu_next = h.beta1 * (1.0 - 0.5 * std::pow(0.96, (t + 1.0) * h.momentum_decay));
    // torch keeps mu_product as a float32 tensor: the product is rounded at every step.
    const double mu_product =
        static_cast<float>(static_cast<float>(scalars[0]) * static_cast<float>(mu));
    scalars[0] = mu_product;
    Args a{};
    a.prep = h.prep();
    a.moments = h.moments();
    a.inv_bias_correction2 = static_cast<float>(1.0 / (1.0 - std::pow(h.beta2, t)));
    a.eps = static_cast<float>(h.eps);
    a.grad_coef = static_cast<float>(-h.lr * (1.0 - mu) / (1.0 - mu_product));
    a.exp_avg_coef = static_cast<float>(-h.lr * mu_next / (1.0 - mu_product * mu_next));
    return a;
  }
};

}  // namespace fastoptim
