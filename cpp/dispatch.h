// Runtime choice of the SIMD target. Every target compiles the same kernels into a Kernels table;
// at import the best one the CPU (and FASTOPTIM_DISABLE) allows becomes active.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rules.h"

namespace fastoptim {

// One in-place step of a rule over n elements.
template <class Rule>
using KernelFn = void (*)(const typename Rule::Args&, Ptrs, int64_t);

// A rule's kernel for each storage width of state, gradient and parameter (rule.h, Formats).
template <class Rule>
struct KernelSlot {
  KernelFn<Rule> fn[kStateKinds][2][2] = {};
};

// An element-wise operation on two arrays of n floats and a scalar (kernels/vector-inl.h).
using PairFn = void (*)(float, float* a, float* b, int64_t n);

template <class List>
struct KernelTable;
// One kernel per rule (get<Rule>()), and the vector operations.
template <class... Rules>
struct KernelTable<RuleList<Rules...>> : KernelSlot<Rules>... {
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
  // x *= f, and the pairwise operations of kernels/vector-inl.h: y += a * x, the EMA of the
  // weights, Lookahead's synchronisation, and the exchange of two arrays.
  void (*scale)(float f, float* x, int64_t n) = nullptr;
  PairFn axpy = nullptr, ema_update = nullptr, lookahead_sync = nullptr, swap = nullptr;

  // n float16 (kFloat16) or bfloat16 values widened to float32 (the reductions of
  // low-precision gradients).
  void (*widen)(const uint16_t* x, float* out, int64_t n, GradFormat f) = nullptr;
  // int8 state's blocks (kernels/common-inl.h): n values quantized to codes and block scales,
  // and back.
  void (*encode_int8)(const float* x, int64_t n, uint8_t* codes, float* scales) = nullptr;
  void (*decode_int8)(const uint8_t* codes, const float* scales, int64_t n, float* out) = nullptr;

  // The kernel for these formats.
  template <class Rule>
  KernelFn<Rule> get(StateFormat s, GradFormat g, ParamFormat p) const {
    return KernelSlot<Rule>::fn[static_cast<int>(state_kind(s))][g != GradFormat::kFloat32]
                               [p != ParamFormat::kFloat32];
  }
  template <class Rule>
  void set(StateKind s, bool grad16, bool param16, KernelFn<Rule> k) {
    KernelSlot<Rule>::fn[static_cast<int>(s)][grad16][param16] = k;
  }
};

using Kernels = KernelTable<AllRules>;

// The table in use. Chosen once at import; set_target changes it (tests force lower targets).
const Kernels& active_kernels();
// Targets this build contains and this CPU runs, best first ("avx512", "avx2", "scalar").
std::vector<std::string> available_targets();
// Makes `name` active; throws std::invalid_argument if it is not available.
void set_target(const std::string& name);
// Picks the best available target not listed in the comma-separated FASTOPTIM_DISABLE.
void init_target_from_env();

}  // namespace fastoptim
