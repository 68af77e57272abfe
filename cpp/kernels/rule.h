// What every update rule shares: the pointers a kernel works on, and the validated reading of a
// param group's hyperparameters.
//
// A rule is a struct (see sgd.h, adam.h) with
//   kName, kSlots, kSlotNames     its torch name and the per-parameter state arrays it may keep
//   Hyper                         the group's hyperparameters, in double precision
//   Args                          what the kernel needs for one tensor at one step: float32 scalars
//                                 derived from Hyper and the step count (4-byte fields only, so
//                                 two Args compare equal with memcmp)
//   read(GroupReader&)            parses and validates Hyper; throws naming the bad argument
//   needs_slot(Hyper, slot)       whether the kernel reads/writes state slot `slot`
// Every rule whose kernel reads a gradient has Args::prep (a GradPrep) and applies it as it
// loads the gradient.
//   args(Hyper, step, scalars)    Args for step count `step` (1 on the first step); `scalars`
//                                 points at the tensor's kScalars per-tensor float state values
//                                 (kScalarNames, starting at kScalarInit), which args() advances
//   kScalars, kScalarNames, kScalarInit   per-tensor scalar state (NAdam's mu_product), or none
// and a kernel template <class V> void step(const Args&, Ptrs, int64_t n) in <rule>-inl.h, which
// updates n elements in place in one pass. The rule joins the list in rules.h.
#pragma once
#include <array>
#include <cstdint>

namespace fastoptim {

constexpr int kMaxSlots = 3;

// How state arrays are stored: float32; bfloat16 rounded stochastically (unbiased; random bits
// from the element's index and the step's key) or to the nearest even; or 8-bit codes in blocks
// of kBlock elements with one float32 scale per block (kernels/quantize-inl.h).
enum class StateFormat : int32_t { kFloat32 = 0, kBf16Stochastic = 1, kBf16Nearest = 2, kInt8 = 3 };
constexpr int kStateFormats = 4;
constexpr int64_t kBlock = 256;
// How gradients come: float32, float16 (IEEE half) or bfloat16; each is widened exactly.
enum class GradFormat : int32_t { kFloat32 = 0, kFloat16 = 1, kBfloat16 = 2 };
constexpr int kGradFormats = 3;
// How parameters are stored. float32; or 16-bit with a master weight the optimizer keeps:
// bfloat16 whose low 16 bits are kept as state ("split": the master is exact float32, and the
// bfloat16 array its truncation), or bfloat16/float16 with a float32 copy kept as state and the
// array its rounding to nearest; or bfloat16 without a master, rounded like bfloat16 state.
enum class ParamFormat : int32_t {
  kFloat32 = 0, kBf16Split = 1, kBf16Copy = 2, kF16Copy = 3, kBf16Stochastic = 4, kBf16Nearest = 5
};
constexpr int kParamFormats = 6;

constexpr int state_bytes(StateFormat f) {
  return f == StateFormat::kFloat32 ? 4 : f == StateFormat::kInt8 ? 1 : 2;
}
constexpr int grad_bytes(GradFormat f) { return f == GradFormat::kFloat32 ? 4 : 2; }
constexpr int param_bytes(ParamFormat f) { return f == ParamFormat::kFloat32 ? 4 : 2; }
// Bytes per element of the master weight kept as state (0: none).
constexpr int master_bytes(ParamFormat f) {
  return f == ParamFormat::kBf16Split ? 2
         : f == ParamFormat::kBf16Copy || f == ParamFormat::kF16Copy ? 4 : 0;
}
// Storage widths a kernel is compiled for: state float32, bfloat16 or int8; 16-bit gradients or
// not; 16-bit parameters or not. Within a width, Ptrs says the format at run time (a branch the
// predictor learns: the loop is the same for every element of a call).
enum class StateKind : int32_t { kFloat32 = 0, kBf16 = 1, kInt8 = 2 };
constexpr int kStateKinds = 3;
constexpr StateKind state_kind(StateFormat f) {
  return f == StateFormat::kFloat32 ? StateKind::kFloat32
         : f == StateFormat::kInt8  ? StateKind::kInt8
                                    : StateKind::kBf16;
}
template <StateKind S, bool kGrad16, bool kParam16>
struct Formats {
  static constexpr StateKind kState = S;
  static constexpr bool kGradIs16 = kGrad16, kParamIs16 = kParam16;
};

// One tensor's (or one chunk's) memory: parameter, gradient and up to three state arrays, all
// with the same number of elements in their formats. Unused slots are null. int8 state has its
// block scales in `scale`; a chunk of it starts on a block.
struct Ptrs {
  void* p;
  const void* g;
  void* s[kMaxSlots];
  float* scale[kMaxSlots];  // int8 state: one per kBlock elements
  void* master;             // the master weight's state (ParamFormat), else null
  int64_t at;               // index of element 0 among all the optimizer's elements
  uint32_t key;             // stochastic rounding's key for this tensor's step (seed and step)
  StateFormat state;
  GradFormat grad;
  ParamFormat param;

  Ptrs offset(int64_t i) const {
    Ptrs r = *this;
    r.p = static_cast<char*>(p) + i * param_bytes(param);
    r.g = static_cast<const char*>(g) + i * grad_bytes(grad);
    for (int k = 0; k < kMaxSlots; ++k) {
      if (r.s[k]) r.s[k] = static_cast<char*>(r.s[k]) + i * state_bytes(state);
      if (r.scale[k]) r.scale[k] += i / kBlock;
    }
    if (master) r.master = static_cast<char*>(master) + i * master_bytes(param);
    r.at += i;
    return r;
  }
};

// A 32-bit integer hash ("lowbias32", C. Wellons): stochastic rounding's random bits.
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

// Bounds a real hyperparameter must satisfy (all must also be finite, never NaN).
enum class Bound { kAny, kNonNegative, kPositive, kUnit /* [0, 1) */, kClosedUnit /* [0, 1] */ };

// How every gradient-reading rule prepares the gradient before its own math:
//   g <- grad_scale * g     (-1 for maximize, times max_grad_norm's clipping coefficient)
//   g <- g + wd * p         (L2 weight decay, "coupled"), or instead
//   p <- p * (1 - lr * wd)  (decoupled weight decay: AdamW, NAdamW, RAdamW, Lion)
struct GradPrep {
  float grad_scale, weight_decay, param_scale;
  int32_t coupled, decoupled;

  static GradPrep make(bool maximize, double weight_decay = 0.0, double lr = 0.0,
                       bool decoupled = false) {
    GradPrep a{};
    a.grad_scale = maximize ? -1.0f : 1.0f;
    a.weight_decay = static_cast<float>(weight_decay);
    a.param_scale = static_cast<float>(1.0 - lr * weight_decay);
    a.coupled = !decoupled && weight_decay != 0;
    a.decoupled = decoupled && weight_decay != 0;
    return a;
  }
};

// Exponential moving averages of g and g^2, the moments of the Adam family (and RMSprop's and
// Adadelta's running averages):  m <- m + (1 - b1) (g - m),  v <- b2 v + (1 - b2) g^2.
struct Moments {
  float one_minus_beta1, beta2, one_minus_beta2;

  static Moments make(double beta1, double beta2) {
    return Moments{static_cast<float>(1.0 - beta1), static_cast<float>(beta2),
                   static_cast<float>(1.0 - beta2)};
  }
};

// The hyperparameters the Adam family (Adam, NAdam, RAdam, Adamax) shares, read and validated
// once here; each rule's Hyper derives from it and reads its own extras.
struct AdamFamilyHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool maximize, decoupled_weight_decay;

  // Reads lr, betas, eps, weight_decay, maximize and, if the rule has the option,
  // decoupled_weight_decay.
  template <class G>
  void read_common(G& g, bool has_decoupled_option) {
    lr = g.real("lr", Bound::kNonNegative);
    g.betas("betas", &beta1, &beta2);
    eps = g.real("eps", Bound::kNonNegative);
    weight_decay = g.real("weight_decay", Bound::kNonNegative);
    maximize = g.flag("maximize");
    decoupled_weight_decay = has_decoupled_option && g.flag("decoupled_weight_decay");
  }
  GradPrep prep() const {
    return GradPrep::make(maximize, weight_decay, lr, decoupled_weight_decay);
  }
  Moments moments() const { return Moments::make(beta1, beta2); }
};

// Base of rules that keep no per-tensor scalar state.
struct NoScalars {
  static constexpr int kScalars = 0;
  static constexpr std::array<const char*, 0> kScalarNames{};
  static constexpr std::array<double, 0> kScalarInit{};
};

}  // namespace fastoptim
