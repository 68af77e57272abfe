#include "dispatch.h"

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace fastoptim {

// Each target's table, defined in targets/<target>.cc (built only where the compiler can).
namespace scalar { const Kernels* table(); }
#ifdef FASTOPTIM_HAVE_AVX2
namespace avx2 { const Kernels* table(); }
#endif
#ifdef FASTOPTIM_HAVE_AVX512
namespace avx512 { const Kernels* table(); }
#endif

namespace {

std::atomic<const Kernels*> g_active{nullptr};

// Best first; each entry only if compiled in and supported by this CPU and OS.
std::vector<const Kernels*> runnable() {
  std::vector<const Kernels*> r;
#if defined(FASTOPTIM_HAVE_AVX512) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // Skylake-SP's AVX-512 subsets (x86-64-v4 less CD): every AVX-512 CPU but the Xeon Phis.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    r.push_back(avx512::table());
#endif
#if defined(FASTOPTIM_HAVE_AVX2) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    r.push_back(avx2::table());
#endif
  r.push_back(scalar::table());
  return r;
}

}  // namespace

const Kernels& active_kernels() {
  const Kernels* k = g_active.load(std::memory_order_acquire);
  if (!k) {
    init_target_from_env();
    k = g_active.load(std::memory_order_acquire);
  }
  return *k;
}

std::vector<std::string> available_targets() {
  std::vector<std::string> names;
  for (const Kernels* k : runnable()) names.emplace_back(k->name);
  return names;
}

void set_target(const std::string& name) {
  for (const Kernels* k : runnable()) {
    if (name == k->name) {
      g_active.store(k, std::memory_order_release);
      return;
    }
  }
  std::string avail;
  for (const std::string& n : available_targets()) avail += (avail.empty() ? "" : ", ") + n;
  throw std::invalid_argument("CPU target '" + name + "' is not available here (available: " +
                              avail + ")");
}

void init_target_from_env() {
  const char* env = std::getenv("FASTOPTIM_DISABLE");
  std::vector<std::string> disabled;
  if (env) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      disabled.push_back(item);
    }
  }
  for (const Kernels* k : runnable()) {
    bool off = false;  // "all" (or "simd") leaves only the scalar floor
    for (const std::string& d : disabled) off = off || d == k->name || d == "all" || d == "simd";
    // The scalar target is the floor: it cannot be disabled.
    if (!off || std::string(k->name) == "scalar") {
      g_active.store(k, std::memory_order_release);
      return;
    }
  }
}

}  // namespace fastoptim
