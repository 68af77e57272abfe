// Runtime choice of the SIMD target. Every target compiles the same kernels into a Kernels table;
// at import the best one the CPU (and FASTOPTIM_DISABLE) allows becomes active.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/adam.h"
#include "kernels/sgd.h"
#include "kernels/traffic.h"

namespace fastoptim {

template <class Rule>
using KernelFn = void (*)(const typename Rule::Args&, Ptrs, int64_t);

struct Kernels {
  const char* name;
  KernelFn<Sgd> sgd;
  KernelFn<Adam> adam;
  KernelFn<Traffic> traffic;

  // The kernel of a rule, so that generic code can write kernels.get<Rule>().
  template <class Rule>
  KernelFn<Rule> get() const;
};
template <> inline KernelFn<Sgd> Kernels::get<Sgd>() const { return sgd; }
template <> inline KernelFn<Adam> Kernels::get<Adam>() const { return adam; }
template <> inline KernelFn<Traffic> Kernels::get<Traffic>() const { return traffic; }

// The table in use. Chosen once at import; set_target changes it (tests force lower targets).
const Kernels& active_kernels();
// Targets this build contains and this CPU runs, best first ("avx512", "avx2", "scalar").
std::vector<std::string> available_targets();
// Makes `name` active; throws std::invalid_argument if it is not available.
void set_target(const std::string& name);
// Picks the best available target not listed in the comma-separated FASTOPTIM_DISABLE.
void init_target_from_env();

}  // namespace fastoptim
