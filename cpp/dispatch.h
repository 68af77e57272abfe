// Runtime choice of the SIMD target. Every target compiles the same kernels into a Kernels table;
// at import the best one the CPU (and FASTOPTIM_DISABLE) allows becomes active.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/adadelta.h"
#include "kernels/adagrad.h"
#include "kernels/adam.h"
#include "kernels/adamax.h"
#include "kernels/ema.h"
#include "kernels/lion.h"
#include "kernels/lookahead.h"
#include "kernels/nadam.h"
#include "kernels/proximal.h"
#include "kernels/radam.h"
#include "kernels/rmsprop.h"
#include "kernels/sgd.h"
#include "kernels/traffic.h"

namespace fastoptim {

template <class Rule>
using KernelFn = void (*)(const typename Rule::Args&, Ptrs, int64_t);

// A guarded step (nonfinite="skip"/"raise", see kernels/io-inl.h), and one phase of its undo.
template <class Rule>
using GuardedFn = void (*)(const typename Rule::Args&, Ptrs, int64_t, Guard&);
template <class Rule>
using UndoFn = void (*)(const typename Rule::Args&, Ptrs, int64_t, const Guard&, int phase);

// A rule's entry points: the in-place step, and (update rules only) the guarded step and the
// undo of a guarded step.
template <class Rule>
struct KernelSlot {
  KernelFn<Rule> fn = nullptr;
  GuardedFn<Rule> guarded = nullptr;
  UndoFn<Rule> undo = nullptr;
};

// One function pointer per rule; get<Rule>() / set<Rule>() pick the rule's slot.
template <class... Rules>
struct KernelTable : KernelSlot<Rules>... {
  const char* name = nullptr;
  // Whether any of x[0..n) is NaN or infinite.
  bool (*any_nonfinite)(const float* x, int64_t n) = nullptr;
  // Reductions over x[0..n) in double, in a fixed order that every target shares
  // (kernels/reduce-inl.h): sum of x[i]^2, of |x[i]|, of |x[i]|^p and of x[i] * y[i], and the
  // largest |x[i]| (NaN if any is NaN).
  double (*sum_squares)(const float* x, int64_t n) = nullptr;
  double (*sum_abs)(const float* x, int64_t n) = nullptr;
  double (*sum_pow)(const float* x, int64_t n, double p) = nullptr;
  double (*dot)(const float* x, const float* y, int64_t n) = nullptr;
  double (*max_abs)(const float* x, int64_t n) = nullptr;
  template <class Rule>
  KernelFn<Rule> get() const { return KernelSlot<Rule>::fn; }
  template <class Rule>
  const KernelSlot<Rule>& slot() const { return *this; }
  template <class Rule>
  void set(KernelFn<Rule> f, GuardedFn<Rule> guarded = nullptr, UndoFn<Rule> undo = nullptr) {
    KernelSlot<Rule>::fn = f;
    KernelSlot<Rule>::guarded = guarded;
    KernelSlot<Rule>::undo = undo;
  }
};

using Kernels = KernelTable<Sgd, Adam, Adagrad, Rmsprop, Adadelta, Adamax, Nadam, Radam, Lion,
                            ProximalSgd, ProximalAdagrad, LookaheadSync, EmaUpdate, EmaSwap,
                            Traffic>;

// The table in use. Chosen once at import; set_target changes it (tests force lower targets).
const Kernels& active_kernels();
// Targets this build contains and this CPU runs, best first ("avx512", "avx2", "scalar").
std::vector<std::string> available_targets();
// Makes `name` active; throws std::invalid_argument if it is not available.
void set_target(const std::string& name);
// Picks the best available target not listed in the comma-separated FASTOPTIM_DISABLE.
void init_target_from_env();

}  // namespace fastoptim
