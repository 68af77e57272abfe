// pybind11 bindings: argument checks, GIL release, and the generic stepping of a rule.
//
// Python builds one Plan per optimizer (see python/fastoptim/optimizer.py): it holds the
// parameters, the state arrays and the step counters, and reads the hyperparameters from the
// live param_groups dicts at every step, so `opt.param_groups[0]["lr"] = x` takes effect at the
// next step. A step validates everything first (grads, hyperparameters, state), then advances the
// step counters and runs one parallel region over all tensors with the GIL released. With
// nonfinite="skip"/"raise" a large step runs guarded instead (kernels/io-inl.h, run_guarded):
// it can be undone if a gradient turns out NaN or Inf partway through.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <new>
#include <numeric>
#include <stdexcept>
#include <type_traits>
#include <string>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>  // sysconf: the cache size
#endif

#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

#include "dispatch.h"
#include "parallel.h"
#include "vector_ops.h"

namespace py = pybind11;

namespace fastoptim {
namespace {

// Raised by Plan.step when a param group's options now need a state slot the plan was built
// without (e.g. amsgrad switched on mid-run); Python rebuilds the plan and steps again.
struct StalePlan : std::runtime_error {
  StalePlan() : std::runtime_error("optimizer state layout changed; rebuild the plan") {}
};

// Size of the last-level cache (Linux/glibc reports it; 32 MiB where nothing does).
int64_t last_level_cache_bytes() {
#ifdef _SC_LEVEL3_CACHE_SIZE
  for (int name : {_SC_LEVEL4_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
    const long v = sysconf(name);
    if (v > 0) return v;
  }
#endif
  return int64_t{32} << 20;
}

// Allocates on 64-byte boundaries (cache lines, for streaming stores).
template <class T>
struct LineAllocator {
  using value_type = T;
  LineAllocator() = default;
  template <class U>
  LineAllocator(const LineAllocator<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  friend bool operator==(const LineAllocator&, const LineAllocator&) { return true; }
  friend bool operator!=(const LineAllocator&, const LineAllocator&) { return false; }
};

// Orders a thread's streaming (non-temporal) stores before everything after it, on scope exit.
struct StreamFence {
  ~StreamFence() {
#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
    _mm_sfence();
#endif
  }
};

std::string type_name(py::handle o) { return py::str(py::type::handle_of(o).attr("__name__")); }

// Reads one param group (a dict) with validation; every error names the argument and the group.
class GroupReader {
 public:
  GroupReader(py::handle dict, int index) : dict_(dict), index_(index) {
    if (!PyDict_Check(dict.ptr()))
      throw py::type_error("param group " + std::to_string(index) + " must be a dict, got " +
                           type_name(dict));
  }

  double real(const char* key, Bound bound) { return check(key, key, to_double(key, get(key)), bound); }

  bool flag(const char* key) {
    py::handle o = get(key);
    if (PyBool_Check(o.ptr()) || PyLong_Check(o.ptr()) || is_numpy_bool(o))
      return PyObject_IsTrue(o.ptr()) == 1;
    throw py::type_error(std::string(key) + " in param group " + std::to_string(index_) +
                         " must be a bool, got " + type_name(o));
  }

  // A pair (b1, b2), each in [0, 1).
  void betas(const char* key, double* b1, double* b2) {
    py::handle o = get(key);
    if (!PySequence_Check(o.ptr()) || PyUnicode_Check(o.ptr()) || PySequence_Size(o.ptr()) != 2) {
      PyErr_Clear();
      throw py::type_error(std::string(key) + " in param group " + std::to_string(index_) +
                           " must be a pair of floats, got " + std::string(py::repr(o)));
    }
    const std::string k = key;
    py::object first = py::reinterpret_steal<py::object>(PySequence_GetItem(o.ptr(), 0));
    py::object second = py::reinterpret_steal<py::object>(PySequence_GetItem(o.ptr(), 1));
    *b1 = check(key, (k + "[0]").c_str(), to_double(key, first), Bound::kUnit);
    *b2 = check(key, (k + "[1]").c_str(), to_double(key, second), Bound::kUnit);
  }

  [[noreturn]] void fail(const char* key, const std::string& why) {
    throw py::value_error("Invalid " + std::string(key) + " in param group " +
                          std::to_string(index_) + ": " + why);
  }

 private:
  py::handle get(const char* key) {
    PyObject* o = PyDict_GetItemString(dict_.ptr(), key);  // borrowed
    if (!o)
      throw py::key_error("param group " + std::to_string(index_) + " has no '" + key + "'");
    return o;
  }

  static bool is_numpy_bool(py::handle o) {
    static py::object np_bool = py::module_::import("numpy").attr("bool_");
    return PyObject_IsInstance(o.ptr(), np_bool.ptr()) == 1;
  }

  double to_double(const char* key, py::handle o) {
    if (PyFloat_Check(o.ptr())) return PyFloat_AS_DOUBLE(o.ptr());
    if (!PyUnicode_Check(o.ptr()) && !PyBytes_Check(o.ptr()) && !PyBool_Check(o.ptr())) {
      const double d = PyFloat_AsDouble(o.ptr());
      if (!(d == -1.0 && PyErr_Occurred())) return d;
      PyErr_Clear();
    }
    throw py::type_error(std::string(key) + " in param group " + std::to_string(index_) +
                         " must be a real number, got " + type_name(o));
  }

  double check(const char* key, const char* shown, double v, Bound bound) {
    const char* rule = nullptr;
    if (!std::isfinite(v))
      rule = "must be finite";
    else if (bound == Bound::kNonNegative && v < 0)
      rule = "must be >= 0";
    else if (bound == Bound::kPositive && !(v > 0))
      rule = "must be > 0";
    else if (bound == Bound::kUnit && !(v >= 0 && v < 1))
      rule = "must be in [0, 1)";
    else if (bound == Bound::kClosedUnit && !(v >= 0 && v <= 1))
      rule = "must be in [0, 1]";
    if (rule) fail(key, std::string(shown) + "=" + std::string(py::repr(py::float_(v))) + " (" + rule + ")");
    return v;
  }

  py::handle dict_;
  int index_;
};

bool is_float32(const py::array& a) { return a.dtype().equal(py::dtype::of<float>()); }

// An ndarray of float32 in native byte order, else TypeError. `what` names it ("params[3]").
py::array checked_float32(py::handle o, const std::string& what) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error(what + " must be a numpy.ndarray of float32, got " + type_name(o));
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!is_float32(a))
    throw py::type_error(what + " must have dtype float32 (native byte order), got " +
                         std::string(py::str(a.dtype())));
  return a;
}

// Whether a kernel can walk the array with a plain float pointer.
bool contiguous_aligned(const py::array& a) {
  const int flags = py::detail::array_proxy(a.ptr())->flags;
  return (flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) &&
         (flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_);
}

// A float32 array a kernel can read: C-contiguous and 4-byte aligned, else ValueError.
py::array checked_input(py::handle o, const std::string& what) {
  py::array a = checked_float32(o, what);
  if (!contiguous_aligned(a))
    throw py::value_error(what + " must be C-contiguous and 4-byte aligned");
  return a;
}

// A float32 array a kernel can update in place: checked_input, and writeable.
py::array checked_inplace_array(py::handle o, const std::string& what) {
  py::array a = checked_input(o, what);
  if (!a.writeable()) throw py::value_error(what + " is read-only");
  return a;
}

// Checks a list of parameters: each an in-place-writable float32 array, no two overlapping.
std::vector<py::array> checked_params(py::list params) {
  std::vector<py::array> out;
  std::vector<std::pair<const char*, size_t>> starts;
  for (size_t i = 0; i < params.size(); ++i) {
    out.push_back(checked_inplace_array(params[i], "params[" + std::to_string(i) + "]"));
    if (out.back().nbytes() > 0) starts.emplace_back(static_cast<const char*>(out.back().data()), i);
  }
  std::sort(starts.begin(), starts.end());
  for (size_t j = 1; j < starts.size(); ++j) {
    const py::array& prev = out[starts[j - 1].second];
    if (starts[j].first < static_cast<const char*>(prev.data()) + prev.nbytes()) {
      const size_t a = std::min(starts[j - 1].second, starts[j].second);
      const size_t b = std::max(starts[j - 1].second, starts[j].second);
      throw py::value_error("params[" + std::to_string(a) + "] and params[" + std::to_string(b) +
                            "] overlap in memory (a parameter listed twice?)");
    }
  }
  return out;
}

bool same_shape(const py::array& a, const py::array& b) {
  return a.ndim() == b.ndim() && std::equal(a.shape(), a.shape() + a.ndim(), b.shape());
}

std::string shape_str(const py::array& a) { return py::str(py::tuple(a.attr("shape"))); }

// Whether a rule's Args carries a GradPrep (the rules that read a gradient).
template <class A, class = void>
struct has_grad_scale : std::false_type {};
template <class A>
struct has_grad_scale<A, std::void_t<decltype(A::prep)>> : std::true_type {};

// The state slots a rule's guarded step may update in place (Rule::kRestoredSlots; none if the
// rule does not say).
template <class R, class = void>
struct restored_slots_of : std::integral_constant<uint32_t, 0> {};
template <class R>
struct restored_slots_of<R, std::void_t<decltype(R::kRestoredSlots)>>
    : std::integral_constant<uint32_t, R::kRestoredSlots> {};

// torch's clip_grad_norm_ coefficient: max_norm / (norm + 1e-6), at most 1, in float32.
double clip_coefficient(double max_norm, double total_norm) {
  const float coef = static_cast<float>(max_norm) / (static_cast<float>(total_norm) + 1e-6f);
  return coef < 1.0f ? coef : (coef != coef ? coef : 1.0f);
}

// One contiguous run of elements that share kernel Args: a tensor, or several tensors adjacent
// in every buffer (the flat store) merged into one.
struct Span {
  Ptrs ptrs;
  int64_t start, n;  // global index of the first element; number of elements
  int32_t args;      // index into the step's Args table
};

template <class Rule>
class Plan {
 public:
  using Hyper = typename Rule::Hyper;
  using Args = typename Rule::Args;

  // `shadows`, like `states`, holds one list of arrays per slot (None for slots not kept): the
  // second state buffers of guarded steps (nonfinite="skip"/"raise"), or None without them.
  Plan(py::list groups, py::list params, std::vector<int> group_of, py::list states,
       py::array steps, py::object flat_grads, py::list scalars, py::object shadows)
      : groups_(groups) {
    const size_t n = params.size();
    if (group_of.size() != n || states.size() != Rule::kSlots ||
        scalars.size() != static_cast<size_t>(Rule::kScalars))
      throw py::value_error("inconsistent optimizer plan");
    steps_ = counter_array<int64_t>(steps, n);
    for (size_t k = 0; k < scalars.size(); ++k)
      scalars_[k] = counter_array<double>(scalars[k], n);
    std::vector<py::array> checked = checked_params(params);
    tensors_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      Tensor& t = tensors_[i];
      t.param = checked[i];
      t.p = static_cast<float*>(t.param.mutable_data());
      t.n = t.param.size();
      t.group = group_of[i];
      if (t.group < 0 || static_cast<size_t>(t.group) >= groups.size())
        throw py::value_error("inconsistent optimizer plan");
    }
    for (int k = 0; k < Rule::kSlots; ++k) {
      if (states[k].is_none()) continue;
      py::list arrays = states[k];
      if (arrays.size() != n) throw py::value_error("inconsistent optimizer plan");
      for (size_t i = 0; i < n; ++i) {
        py::array a = checked_inplace_array(arrays[i], std::string(Rule::kSlotNames[k]) + "[" +
                                                           std::to_string(i) + "]");
        if (!same_shape(a, tensors_[i].param)) throw py::value_error("inconsistent optimizer plan");
        tensors_[i].s[k] = static_cast<float*>(a.mutable_data());
        tensors_[i].has_slot[k] = true;
        keep_.push_back(a);
      }
    }
    if (!shadows.is_none()) {
      py::list sh = shadows;
      if (sh.size() != Rule::kSlots) throw py::value_error("inconsistent optimizer plan");
      for (int k = 0; k < Rule::kSlots; ++k) {
        if (sh[k].is_none() != states[k].is_none()) throw py::value_error("inconsistent optimizer plan");
        if (sh[k].is_none()) continue;
        py::list arrays = sh[k];
        if (arrays.size() != n) throw py::value_error("inconsistent optimizer plan");
        for (size_t i = 0; i < n; ++i) {
          py::array a = checked_inplace_array(arrays[i], "shadow state");
          if (!same_shape(a, tensors_[i].param) || a.data() == tensors_[i].s[k])
            throw py::value_error("inconsistent optimizer plan");
          tensors_[i].d[k] = static_cast<float*>(a.mutable_data());
          keep_.push_back(a);
        }
      }
      has_shadows_ = true;
    }
    if (!flat_grads.is_none()) {
      py::list fg = flat_grads;
      if (fg.size() != n) throw py::value_error("inconsistent optimizer plan");
      for (size_t i = 0; i < n; ++i) {
        py::array g = checked_inplace_array(fg[i], "grads[" + std::to_string(i) + "]");
        if (!same_shape(g, tensors_[i].param)) throw py::value_error("inconsistent optimizer plan");
        flat_grads_.push_back(static_cast<const float*>(g.data()));
        keep_.push_back(g);
      }
    }
  }

  // Parses and validates one param group's hyperparameters (used at construction too).
  static void validate(py::handle group, int index) {
    GroupReader r(group, index);
    Rule::read(r);
  }

  // Returns which slots' state buffers swapped, bit k for slot k (a guarded step that went
  // through: Python swaps its state and shadow lists of those slots to match).
  uint32_t step(py::object grads) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true))
      throw std::runtime_error(std::string(Rule::kName) +
                               ".step() is already running in another thread");
    struct Release {
      std::atomic<bool>& b;
      ~Release() { b.store(false); }
    } release{busy_};

    // 1. Gradients: one per parameter (None skips it, as a missing .grad in torch).
    std::vector<py::object> copies;  // contiguous copies of strided gradients, alive until done
    grad_ptrs_.assign(tensors_.size(), nullptr);
    if (grads.is_none()) {
      if (flat_grads_.empty() && !tensors_.empty())
        throw py::type_error(std::string(Rule::kName) +
                             ".step() needs grads (one array per parameter) unless the parameters "
                             "live in a fastoptim.FlatParams store");
      std::copy(flat_grads_.begin(), flat_grads_.end(), grad_ptrs_.begin());
    } else {
      read_grads(grads, copies);
    }

    // 2. Hyperparameters of every group, read now so that changes since the last step count.
    const size_t ngroups = groups_.size();
    hyper_.clear();
    for (size_t j = 0; j < ngroups; ++j) {
      GroupReader r(groups_[j], static_cast<int>(j));
      hyper_.push_back(Rule::read(r));
    }

    // 3. Every state array the options need exists (else Python rebuilds the plan).
    for (size_t i = 0; i < tensors_.size(); ++i)
      for (int k = 0; k < Rule::kSlots; ++k)
        if (grad_ptrs_[i] && Rule::needs_slot(hyper_[tensors_[i].group], k) &&
            !tensors_[i].has_slot[k])
          throw StalePlan{};

    // 4. With max_grad_norm: one reading pass for the global norm of this step's gradients;
    // the kernels then scale each gradient as they load it (two passes in all, not three).
    std::vector<Run> runs;
    std::vector<size_t> run_tensor;
    for (size_t i = 0; i < tensors_.size(); ++i)
      if (grad_ptrs_[i]) {
        runs.emplace_back(grad_ptrs_[i], tensors_[i].n);
        run_tensor.push_back(i);
      }
    double grad_scale = 1.0;
    if (max_grad_norm_ >= 0) {
      {
        py::gil_scoped_release nogil;
        last_grad_norm_ = static_cast<float>(norm(runs, 2.0));
      }
      grad_scale = clip_coefficient(max_grad_norm_, last_grad_norm_);
    }

    // 5. nonfinite="skip"/"raise": a step with a NaN or Inf gradient must change nothing.
    //  - With clipping, the norm decides: finite proves every gradient finite.
    //  - Else, for a step whose memory does not fit in the last-level cache, the check is
    //    fused into the update (run_guarded, below; the rule's guarded kernel, and the plan's
    //    second state buffers for state it does not update in place), which undoes a failed
    //    step: no second pass over gradients that would come from DRAM again. So it is for a
    //    step that writes no second buffer and is larger than the core's own caches
    //    (fused_pays()).
    //  - Else one read-only pass over the gradients decides before anything is written: in
    //    cache that re-read is cheaper than the guarded kernel's extra work and buffers
    //    (python bench/rules.py --skip-only --size 20: bench/results/skip-2^20.md).
    const KernelSlot<Rule>& slot = active_kernels().template slot<Rule>();
    // Each slot of state the rule restores (restored_slots(), kernels/io-inl.h) is updated in
    // place unless recent steps logged too much of it.
    constexpr uint32_t kRestored = restored_slots_of<Rule>::value;
    uint32_t in_place = 0;
    for (int k = 0; k < kMaxSlots; ++k) {
      if (!(kRestored >> k & 1u)) continue;
      if (state_in_place_ > 0 || (state_in_place_ < 0 && in_place_off_[k] == 0))
        in_place |= 1u << k;
      if (nonfinite_ != Nonfinite::kPropagate && in_place_off_[k] > 0) --in_place_off_[k];
    }
    bool fused = false;
    last_check_ = Check::kNone;
    if (nonfinite_ != Nonfinite::kPropagate) {
      if (max_grad_norm_ >= 0) {
        last_check_ = Check::kNorm;
        if (!std::isfinite(last_grad_norm_)) return reject(runs, run_tensor);
      } else if (slot.guarded && has_shadows_ && prescan_steps_ == 0 &&
                 (fused_check_ > 0 ||
                  (fused_check_ < 0 && fused_pays(runs, run_tensor, in_place))) &&
                 !grads_overlap_writes(runs)) {
        fused = true;
        last_check_ = in_place == kRestored ? Check::kFusedInPlace
                      : in_place            ? Check::kFusedPartlyInPlace
                                            : Check::kFused;
      } else {
        last_check_ = Check::kPrescan;
        if (prescan_steps_ > 0) --prescan_steps_;
        int64_t bad;
        {
          py::gil_scoped_release nogil;
          bad = first_nonfinite(runs);
        }
        if (bad >= 0) return reject(runs, run_tensor, bad);
      }
    }
    if (fused) {  // kept to be restored if the step turns out bad
      saved_steps_.assign(steps_, steps_ + tensors_.size());
      for (int k = 0; k < Rule::kScalars; ++k)
        saved_scalars_[k].assign(scalars_[k], scalars_[k] + tensors_.size());
    }

    // 6. Nothing can fail from here on. Kernel arguments per tensor (scalars in double, rounded
    // to float32; per-tensor scalar state advanced), merged into spans; step counts committed.
    spans_.clear();
    args_.clear();
    int64_t total = 0;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const Tensor& t = tensors_[i];
      if (!grad_ptrs_[i]) continue;
      std::array<double, Rule::kScalars> scalars;
      for (int k = 0; k < Rule::kScalars; ++k) scalars[k] = scalars_[k][i];
      Args a = Rule::args(hyper_[t.group], ++steps_[i], scalars.data());
      if constexpr (has_grad_scale<Args>::value)
        a.prep.grad_scale *= static_cast<float>(grad_scale);
      for (int k = 0; k < Rule::kScalars; ++k) scalars_[k][i] = scalars[k];
      if (args_.empty() || std::memcmp(&args_.back(), &a, sizeof(Args)) != 0) args_.push_back(a);
      if (t.n == 0) continue;
      Ptrs q{t.p, grad_ptrs_[i], {t.s[0], t.s[1], t.s[2]}, {t.s[0], t.s[1], t.s[2]}};
      if (fused) std::copy(t.d, t.d + kMaxSlots, q.d);
      const int32_t ai = static_cast<int32_t>(args_.size() - 1);
      if (!spans_.empty() && spans_.back().args == ai && adjacent(spans_.back(), q)) {
        spans_.back().n += t.n;
      } else {
        spans_.push_back(Span{q, total, t.n, ai});
      }
      total += t.n;
    }

    if (!fused) {
      py::gil_scoped_release nogil;
      run(slot.fn, total);
      return false;
    }
    bool ok;
    {
      py::gil_scoped_release nogil;
      ok = run_guarded(slot, total, in_place);
    }
    if (!ok) {
      std::copy(saved_steps_.begin(), saved_steps_.end(), steps_);
      for (int k = 0; k < Rule::kScalars; ++k)
        std::copy(saved_scalars_[k].begin(), saved_scalars_[k].end(), scalars_[k]);
      return reject(runs, run_tensor);
    }
    // A guess() that misses often (a soft threshold to zero everywhere, say) makes the log cost
    // more than a read-only pre-scan: then pre-scan for a while before trying again.
    if (logged_ - logged_state() > total / 4) prescan_steps_ = kPrescanSteps;
    // Likewise a slot of in-place state whose restore misses often goes to the second buffers
    // for 2, 4, ... up to kPrescanSteps steps while it keeps missing: averages that still grow
    // by binades from step to step (the first few steps), or that gradients as noisy as the
    // average itself keep moving across zero (a first moment: Adam's second moment, a sum of
    // squares, rarely misses). Each logged value costs far more than its 8 bytes (the rarely
    // taken branch, taken): past about 1% of the elements logged, the slot costs less streamed
    // to a second buffer (2^26 elements, this VM: python bench/noise.py, bench/results/noise.md).
    for (int k = 0; k < kMaxSlots; ++k) {
      if (!(in_place >> k & 1u)) continue;
      in_place_backoff_[k] = logged_slot_[k] > total / kInPlaceMissesPerSlot
                                 ? std::min(kPrescanSteps, std::max(2, 2 * in_place_backoff_[k]))
                                 : 0;
      in_place_off_[k] = in_place_backoff_[k];
    }
    return commit_shadows(in_place);
  }

  size_t size() const { return tensors_.size(); }

  // Clip the global L2 norm of each step's gradients to this (None: no clipping).
  void set_max_grad_norm(py::object v) {
    if (v.is_none()) {
      max_grad_norm_ = -1.0;
      return;
    }
    if (!has_grad_scale<Args>::value)
      throw py::type_error(std::string(Rule::kName) + " reads no gradient to clip");
    py::dict d;
    d["max_grad_norm"] = v;
    GroupReader r(d, 0);
    max_grad_norm_ = r.real("max_grad_norm", Bound::kNonNegative);
  }
  py::object max_grad_norm() const {
    return max_grad_norm_ < 0 ? py::object(py::none()) : py::object(py::float_(max_grad_norm_));
  }
  // The global gradient norm of the last step (before clipping), if clipping is on.
  double last_grad_norm() const { return last_grad_norm_; }

  // What a step does with NaN or Inf gradients: "propagate" (as torch), "skip" or "raise".
  void set_nonfinite(const std::string& mode) {
    if (mode == "propagate") nonfinite_ = Nonfinite::kPropagate;
    else if (mode == "skip") nonfinite_ = Nonfinite::kSkip;
    else if (mode == "raise") nonfinite_ = Nonfinite::kRaise;
    else
      throw py::value_error("Invalid nonfinite: '" + mode +
                            "' (must be 'propagate', 'skip' or 'raise')");
  }
  std::string nonfinite() const {
    return nonfinite_ == Nonfinite::kSkip    ? "skip"
           : nonfinite_ == Nonfinite::kRaise ? "raise"
                                             : "propagate";
  }
  int64_t skipped_steps() const { return skipped_steps_; }
  // The options below are None (-1: the plan decides), True (1) or False (0).
  static int to_tri_state(py::handle v) { return v.is_none() ? -1 : (v.cast<bool>() ? 1 : 0); }
  static py::object from_tri_state(int v) {
    return v < 0 ? py::object(py::none()) : py::object(py::bool_(v > 0));
  }
  // Which check skip/raise use without clipping: None picks by size (step()), True the fused
  // one, False the pre-scan (for tests and benchmarks).
  py::object fused_check() const { return from_tri_state(fused_check_); }
  void set_fused_check(py::object v) { fused_check_ = to_tri_state(v); }
  // How many old values the last guarded step logged (those its rule's guess() or restore()
  // could not recompute exactly; see kernels/io-inl.h); -1 before any. logged_state: how many
  // of those were state.
  int64_t logged() const { return logged_; }
  int64_t logged_state() const {
    return std::accumulate(logged_slot_, logged_slot_ + kMaxSlots, int64_t{0});
  }
  // Which check the last step used: None (nonfinite="propagate"), "norm" (max_grad_norm's),
  // "pre-scan", "fused" (state to second buffers), "fused in place" (restorable state in
  // place; kernels/io-inl.h) or "fused partly in place" (some of its slots).
  py::object last_check() const {
    switch (last_check_) {
      case Check::kNorm: return py::str("norm");
      case Check::kPrescan: return py::str("pre-scan");
      case Check::kFused: return py::str("fused");
      case Check::kFusedInPlace: return py::str("fused in place");
      case Check::kFusedPartlyInPlace: return py::str("fused partly in place");
      default: return py::none();
    }
  }
  // Where fused checks write the state their rule can restore: None in place unless recent
  // steps logged too much of it (step()), True always in place, False always to the second
  // buffers (for tests and benchmarks).
  py::object state_in_place() const { return from_tri_state(state_in_place_); }
  void set_state_in_place(py::object v) { state_in_place_ = to_tri_state(v); }
  void set_skipped_steps(int64_t n) { skipped_steps_ = n; }

 private:
  struct Tensor {
    py::array param;
    float* p = nullptr;
    float* s[kMaxSlots] = {nullptr, nullptr, nullptr};  // state
    float* d[kMaxSlots] = {nullptr, nullptr, nullptr};  // second state buffers (guarded steps)
    bool has_slot[kMaxSlots] = {false, false, false};
    int64_t n = 0;
    int group = 0;
  };

  // A writable 1-D contiguous array of n values of type T, kept alive with the plan.
  template <class T>
  T* counter_array(py::handle o, size_t n) {
    if (!py::isinstance<py::array_t<T>>(o)) throw py::value_error("inconsistent optimizer plan");
    py::array a = py::reinterpret_borrow<py::array>(o);
    if (a.ndim() != 1 || static_cast<size_t>(a.shape(0)) != n || !a.writeable() ||
        !contiguous_aligned(a) || !a.dtype().equal(py::dtype::of<T>()))
      throw py::value_error("inconsistent optimizer plan");
    keep_.push_back(a);
    return static_cast<T*>(a.mutable_data());
  }

  void read_grads(py::handle grads, std::vector<py::object>& copies) {
    if (!PyList_Check(grads.ptr()) && !PyTuple_Check(grads.ptr()))
      throw py::type_error(std::string(Rule::kName) +
                           ".step(grads): grads must be a list or tuple of arrays, got " +
                           type_name(grads));
    py::sequence seq = py::reinterpret_borrow<py::sequence>(grads);
    if (static_cast<size_t>(seq.size()) != tensors_.size())
      throw py::value_error(std::string(Rule::kName) + ".step(grads): got " +
                            std::to_string(seq.size()) + " grads for " +
                            std::to_string(tensors_.size()) + " parameters");
    for (size_t i = 0; i < tensors_.size(); ++i) {
      py::handle o = seq[i];
      if (o.is_none()) continue;
      const std::string what = "grads[" + std::to_string(i) + "]";
      py::array g;
      if (py::isinstance<py::array>(o)) {
        g = checked_float32(o, what);  // arrays must already be float32
      } else {
        // Python numbers, lists, NumPy scalars: read as float32, as torch.tensor would.
        static py::object asarray = py::module_::import("numpy").attr("asarray");
        static py::object float32 = py::module_::import("numpy").attr("float32");
        try {
          g = asarray(o, float32);
        } catch (py::error_already_set&) {
          throw py::type_error(what + " must be a float32 array (or numbers), got " +
                               type_name(o));
        }
        copies.push_back(g);
      }
      if (!same_shape(g, tensors_[i].param))
        throw py::value_error(what + " has shape " + shape_str(g) + " but params[" +
                              std::to_string(i) + "] has shape " + shape_str(tensors_[i].param));
      if (!contiguous_aligned(g)) {  // strided or misaligned: read through a contiguous copy
        g = py::array_t<float, py::array::c_style>::ensure(g);
        if (!g) throw py::error_already_set();
        copies.push_back(g);
      }
      grad_ptrs_[i] = static_cast<const float*>(g.data());
    }
  }

  // Whether q continues span s exactly in every buffer, so both run as one range.
  static bool adjacent(const Span& s, const Ptrs& q) {
    if (q.p != s.ptrs.p + s.n || q.g != s.ptrs.g + s.n) return false;
    for (int k = 0; k < kMaxSlots; ++k) {
      if (s.ptrs.s[k] ? q.s[k] != s.ptrs.s[k] + s.n : q.s[k] != nullptr) return false;
      if (s.ptrs.d[k] ? q.d[k] != s.ptrs.d[k] + s.n : q.d[k] != nullptr) return false;
    }
    return true;
  }

  // Ends a step with a NaN or Inf gradient, nothing changed: counts it and returns false
  // ("skip") or raises FloatingPointError naming the first such gradient ("raise"; `bad` is its
  // run if known).
  bool reject(const std::vector<Run>& runs, const std::vector<size_t>& run_tensor,
              int64_t bad = -1) {
    if (nonfinite_ == Nonfinite::kSkip) {
      ++skipped_steps_;
      return false;
    }
    if (bad < 0) {
      py::gil_scoped_release nogil;
      bad = first_nonfinite(runs);
    }
    const std::string msg = std::string(Rule::kName) + ".step(): grads[" +
                            std::to_string(bad >= 0 ? run_tensor[bad] : 0) +
                            "] contains NaN or Inf (nonfinite=\"raise\"); nothing was changed";
    PyErr_SetString(PyExc_FloatingPointError, msg.c_str());
    throw py::error_already_set();
  }

  // One thread's share of a guarded step: the blocks it ran, in order, and the old values of
  // the parameters their guess() cannot recompute exactly.
  struct Block {
    Ptrs q;
    int64_t n;
    int32_t args;
    size_t first;  // index of the block's first logged value
    size_t bits;   // index of the block's first byte of low bits (in-place state)
  };
  struct Piece {
    std::vector<Block> blocks;
    std::vector<uint32_t> offset;
    std::vector<float> value;
    std::vector<uint8_t, LineAllocator<uint8_t>> bits;
    size_t count = 0, bits_used = 0;
    size_t state_count[kMaxSlots] = {};  // logged values of each state slot
    bool bad = false;
  };
  // Bytes of low bits per restorable slot of a block of n elements: 2 bits each, as a whole
  // number of 64-byte lines (streamed whole, kernels/io-inl.h), so that every block's bits start
  // on a line.
  static size_t bit_bytes(int64_t n) { return static_cast<size_t>((2 * n + 511) / 512 * 64); }
  // Slots that need room for low bits: up to the last restorable one.
  static constexpr int kBitSlots = restored_slots_of<Rule>::value
                                       ? 32 - __builtin_clz(restored_slots_of<Rule>::value)
                                       : 0;
  // Guard::bits of a block whose low bits start at pc.bits[first].
  static void point_bits(Guard& gd, Piece& pc, size_t first, int64_t n) {
    for (int k = 0; k < kMaxSlots; ++k)
      gd.bits[k] = (gd.in_place >> k & 1u)
                       ? pc.bits.data() + first + k * bit_bytes(n)
                       : nullptr;
  }
  // Elements per guarded kernel call: how often a thread checks whether another has found a
  // non-finite gradient (a few tens of microseconds of work).
  static constexpr int64_t kGuardBlock = int64_t{1} << 15;

  // The guarded step (kernels/io-inl.h) over [0, total) of the spans. Returns true if every
  // gradient was finite; otherwise stops all threads early, restores every parameter and every
  // in-place state value it wrote and returns false. State in second buffers leaves the old
  // state unwritten either way.
  bool run_guarded(const KernelSlot<Rule>& k, int64_t total, uint32_t in_place) {
    const Args* args = args_.data();
    // Streaming stores keep the new state out of the caches: right when it cannot stay there.
    const bool stream = total >= (int64_t{1} << 20);
    const int npieces = piece_count(total);
    if (pieces_.size() < static_cast<size_t>(npieces)) pieces_.resize(npieces);
    for (Piece& pc : pieces_) {
      pc.blocks.clear();
      pc.count = pc.bits_used = 0;
      std::fill(pc.state_count, pc.state_count + kMaxSlots, 0);
      pc.bad = false;
    }
    std::atomic<bool> stop{false};
    parallel_pieces(total, [&](int t, int64_t begin, int64_t end) {
      const StreamFence fence;  // once per thread, not per block: a fence drains the WC buffers
      Piece& pc = pieces_[t];
      for_each_range(begin, end, [&](const Span& s, int64_t lo, int64_t hi) {
        while (lo < hi) {
          if (stop.load(std::memory_order_relaxed)) return false;
          const Ptrs q = s.ptrs.offset(lo);
          // Up to the next 64-byte boundary of the state buffers first, then whole blocks.
          const int64_t to_line = elements_to_line(q);
          const int64_t m = std::min(hi - lo, to_line ? to_line : kGuardBlock);
          // Room for every element logged, as a parameter and in each slot.
          if (pc.offset.size() < pc.count + 4 * m) {
            pc.offset.resize(std::max(2 * pc.offset.size(), pc.count + 4 * kGuardBlock));
            pc.value.resize(pc.offset.size());
          }
          const size_t bits = in_place ? kBitSlots * bit_bytes(m) : 0;
          if (pc.bits.size() < pc.bits_used + bits)
            pc.bits.resize(
                std::max(2 * pc.bits.size(), pc.bits_used + kBitSlots * bit_bytes(kGuardBlock)));
          pc.blocks.push_back(Block{q, m, s.args, pc.count, pc.bits_used});
          Guard gd{pc.offset.data() + pc.count, pc.value.data() + pc.count, 0, {},
                   stream && to_line == 0, false, in_place, {}};
          if (in_place) point_bits(gd, pc, pc.bits_used, m);
          k.guarded(args[s.args], q, m, gd);
          pc.count += gd.count;
          for (int j = 0; j < kMaxSlots; ++j) pc.state_count[j] += gd.state_count[j];
          pc.bits_used += bits;
          if (gd.bad) {
            pc.bad = true;
            stop.store(true, std::memory_order_relaxed);
            return false;
          }
          lo += m;
        }
        return true;
      });
    });
    bool bad = false;
    logged_ = 0;
    std::fill(logged_slot_, logged_slot_ + kMaxSlots, 0);
    for (int t = 0; t < npieces; ++t) {
      bad = bad || pieces_[t].bad;
      logged_ += static_cast<int64_t>(pieces_[t].count);
      for (int j = 0; j < kMaxSlots; ++j)
        logged_slot_[j] += static_cast<int64_t>(pieces_[t].state_count[j]);
    }
    if (!bad) return true;
    // Parameters first (phase 0), then the state restored in place from them (phase 1), each
    // followed by its logged values.
    constexpr uint32_t kOffsetMask = (1u << kLogTagShift) - 1u;
    for (int t = 0; t < npieces; ++t) {
      Piece& pc = pieces_[t];
      for (size_t b = 0; b < pc.blocks.size(); ++b) {
        const Block& blk = pc.blocks[b];
        Guard gd{nullptr, nullptr, 0, {}, false, false, in_place, {}};
        if (in_place) point_bits(gd, pc, blk.bits, blk.n);
        const size_t last = b + 1 < pc.blocks.size() ? pc.blocks[b + 1].first : pc.count;
        for (int phase = 0; phase < 2; ++phase) {
          k.undo(args[blk.args], blk.q, blk.n, gd, phase);
          for (size_t e = blk.first; e < last; ++e) {
            const uint32_t tag = pc.offset[e] >> kLogTagShift, at = pc.offset[e] & kOffsetMask;
            if (phase == 0 && tag == 0) blk.q.p[at] = pc.value[e];
            if (phase == 1 && tag > 0) blk.q.s[tag - 1][at] = pc.value[e];
          }
        }
      }
    }
    return false;
  }

  // Whether a gradient shares memory with what a guarded step writes (a parameter, or a second
  // state buffer): a grad that is its parameter, say. The undo re-reads the gradients, so those
  // steps take the pre-scan instead.
  bool grads_overlap_writes(const std::vector<Run>& runs) {
    if (written_.empty()) {
      for (const Tensor& t : tensors_) {
        if (t.n == 0) continue;
        written_.emplace_back(t.p, t.p + t.n);
        for (int k = 0; k < kMaxSlots; ++k)
          if (t.has_slot[k]) {
            written_.emplace_back(t.s[k], t.s[k] + t.n);  // both buffers: they swap
            written_.emplace_back(t.d[k], t.d[k] + t.n);
          }
      }
      std::sort(written_.begin(), written_.end());
    }
    for (const Run& r : runs) {
      if (r.second == 0) continue;
      const float* lo = r.first;
      const float* hi = r.first + r.second;
      // The last written range starting before hi; ranges do not overlap each other.
      auto it = std::lower_bound(written_.begin(), written_.end(), hi,
                                 [](const std::pair<float*, float*>& w, const float* h) {
                                   return w.first < h;
                                 });
      if (it != written_.begin() && std::prev(it)->second > lo) return true;
    }
    return false;
  }

  // Whether the fused check costs less than a pre-scan for a step over these runs: when it
  // touches more memory than the last-level cache holds (parameters, gradients, state and
  // second state buffers), or when it writes no second buffer (no state, or only the slots in
  // `kept`, which it updates in place) and touches at least kFusedInCacheBytes. Below that, the pre-scan's
  // second read of the gradients comes from the core's own caches and costs less than the
  // guarded kernel's extra work: at 2^16 elements the fused check took 1.3-1.6x the pre-scan's
  // time, at 2^18 1.0-1.2x (Adam the most), at 2^20 0.7-0.9x (SGD, SGD with momentum, Adam;
  // 1 thread, this 2-core VM).
  static constexpr int64_t kFusedInCacheBytes = int64_t{8} << 20;
  bool fused_pays(const std::vector<Run>& runs, const std::vector<size_t>& run_tensor,
                  uint32_t kept) const {
    static const int64_t cache = last_level_cache_bytes();
    int64_t bytes = 0, shadow_bytes = 0;
    for (size_t r = 0; r < runs.size(); ++r) {
      const Tensor& t = tensors_[run_tensor[r]];
      const int64_t n = runs[r].second * 4;
      bytes += 2 * n;
      for (int k = 0; k < kMaxSlots; ++k) {
        if (!t.has_slot[k]) continue;
        bytes += n;
        if (!(kept >> k & 1u)) shadow_bytes += n;
      }
    }
    if (bytes + shadow_bytes > cache) return true;
    return shadow_bytes == 0 && bytes >= kFusedInCacheBytes;
  }

  // Elements from q to the next 64-byte boundary of its state buffers (0 if there already, or
  // if it has none, or if they disagree and can never be aligned together).
  static int64_t elements_to_line(const Ptrs& q) {
    int64_t to = -1;
    for (float* d : q.d) {
      if (!d) continue;
      const auto a = reinterpret_cast<uintptr_t>(d);
      if (a % 4) return 0;
      const int64_t e = static_cast<int64_t>((64 - a % 64) % 64 / 4);
      if (to >= 0 && e != to) return 0;
      to = e;
    }
    return to < 0 ? 0 : to;
  }

  // After a guarded step that went through: the second buffers hold the new state. Slots the
  // step did not write (no gradient, or an option that does not use them) get the current
  // values copied over, then every tensor's buffers swap (as Python's lists do).
  // In-place state (fixed: a mask of slots, a subset of kRestoredSlots) already is where it
  // belongs. Returns the slots that swapped.
  uint32_t commit_shadows(uint32_t fixed) {
    uint32_t swapped = 0;
    for (int k = 0; k < Rule::kSlots; ++k)
      if (!(fixed >> k & 1u)) swapped |= 1u << k;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      Tensor& t = tensors_[i];
      for (int k = 0; k < Rule::kSlots; ++k) {
        if (!t.has_slot[k] || (fixed >> k & 1u)) continue;
        if (!grad_ptrs_[i] || !Rule::needs_slot(hyper_[t.group], k))
          std::memcpy(t.d[k], t.s[k], sizeof(float) * static_cast<size_t>(t.n));
        std::swap(t.s[k], t.d[k]);
      }
    }
    return swapped;
  }

  // Runs the kernel over [0, total) of the concatenated spans, split across threads.
  void run(KernelFn<Rule> kernel, int64_t total) const {
    parallel_ranges(total, [&](int64_t begin, int64_t end) {
      for_each_range(begin, end, [&](const Span& s, int64_t lo, int64_t hi) {
        kernel(args_[s.args], s.ptrs.offset(lo), hi - lo);
        return true;
      });
    });
  }

  // Calls f(span, lo, hi) for the part [lo, hi) (span-relative) of each span that overlaps
  // [begin, end) of the concatenated spans, in order, until f returns false.
  template <class F>
  void for_each_range(int64_t begin, int64_t end, F&& f) const {
    const Span* spans = spans_.data();
    const size_t count = spans_.size();
    // First span that ends after `begin`.
    size_t k = std::upper_bound(spans, spans + count, begin,
                                [](int64_t b, const Span& s) { return b < s.start + s.n; }) -
               spans;
    for (; k < count && spans[k].start < end; ++k) {
      const Span& s = spans[k];
      if (!f(s, std::max(begin, s.start) - s.start, std::min(end, s.start + s.n) - s.start))
        return;
    }
  }

  py::list groups_;
  int64_t* steps_ = nullptr;                        // per-tensor step counts (Python's array)
  std::array<double*, Rule::kScalars> scalars_{};  // per-tensor scalar state (Python's arrays)
  std::vector<Tensor> tensors_;
  std::vector<py::object> keep_;  // state arrays and flat grads, kept alive with the plan
  std::vector<const float*> flat_grads_;
  // Per-step scratch, reused to avoid allocation on the hot path.
  std::vector<const float*> grad_ptrs_;
  std::vector<Hyper> hyper_;
  std::vector<Args> args_;
  std::vector<Span> spans_;
  std::atomic<bool> busy_{false};
  bool has_shadows_ = false;
  int64_t logged_ = -1;
  int state_in_place_ = -1;  // -1: in place unless in_place_off_; 0: never; 1: always
  enum class Check { kNone, kNorm, kPrescan, kFused, kFusedPartlyInPlace, kFusedInPlace };
  Check last_check_ = Check::kNone;
  // Per slot: steps left that write restorable state to the second buffers, and how many the
  // last in-place step that missed too often set.
  int in_place_off_[kMaxSlots] = {}, in_place_backoff_[kMaxSlots] = {};
  int64_t logged_slot_[kMaxSlots] = {};  // state values the last guarded step logged, by slot
  static constexpr int kPrescanSteps = 63;
  // An in-place step that logs more values of a slot than 1/kInPlaceMissesPerSlot of its
  // elements sends that slot to the second buffers for a while (step()).
  static constexpr int64_t kInPlaceMissesPerSlot = 100;
  int prescan_steps_ = 0;  // steps left that check with a pre-scan instead (see step())
  int fused_check_ = -1;    // -1: by size; 0: pre-scan; 1: fused
  std::vector<Piece> pieces_;
  std::vector<std::pair<float*, float*>> written_;  // sorted, for grads_overlap_writes()
  std::vector<int64_t> saved_steps_;
  std::array<std::vector<double>, Rule::kScalars> saved_scalars_;
  double max_grad_norm_ = -1.0;  // < 0: off
  enum class Nonfinite { kPropagate, kSkip, kRaise } nonfinite_ = Nonfinite::kPropagate;
  int64_t skipped_steps_ = 0;
  double last_grad_norm_ = std::nan("");
};

const float* fdata(const py::array& a) { return static_cast<const float*>(a.data()); }
float* fmut(py::array& a) { return static_cast<float*>(a.mutable_data()); }

double py_dot(py::handle x, py::handle y) {
  py::array a = checked_input(x, "x"), b = checked_input(y, "y");
  if (a.size() != b.size()) throw py::value_error("dot: x and y differ in size");
  py::gil_scoped_release nogil;
  return dot(fdata(a), fdata(b), a.size());
}

// y += alpha * x, where y is one array or a list of arrays that x covers in order (scatter).
void py_axpy(double alpha, py::handle x, py::handle y) {
  py::array a = checked_input(x, "x");
  std::vector<py::array> ys;
  if (py::isinstance<py::list>(y) || py::isinstance<py::tuple>(y)) {
    ys = checked_params(py::list(py::reinterpret_borrow<py::sequence>(y)));
  } else {
    ys.push_back(checked_inplace_array(y, "y"));
  }
  int64_t total = 0;
  for (const py::array& t : ys) total += t.size();
  if (total != a.size()) throw py::value_error("axpy: x and y differ in size");
  py::gil_scoped_release nogil;
  int64_t off = 0;
  for (py::array& t : ys) {
    axpy(alpha, fdata(a) + off, fmut(t), t.size());
    off += t.size();
  }
}

// L-BFGS two-loop recursion, in place on q (= -gradient on entry, the direction on return):
//   for i = m-1..0: al[i] = (s_i . q) ro_i;  q -= al[i] y_i
//   q *= H_diag
//   for i = 0..m-1: be = (y_i . q) ro_i;  q += (al[i] - be) s_i
// Scalars are rounded to float32 where torch keeps them as float32 tensors.
void py_two_loop(py::handle q_obj, py::list dirs, py::list stps, std::vector<double> ro,
                 double h_diag) {
  py::array q = checked_inplace_array(q_obj, "q");
  const size_t m = ro.size();
  if (dirs.size() != m || stps.size() != m)
    throw py::value_error("two_loop: dirs, stps and ro differ in length");
  std::vector<py::array> y, s;
  for (size_t i = 0; i < m; ++i) {
    y.push_back(checked_input(dirs[i], "dirs[" + std::to_string(i) + "]"));
    s.push_back(checked_input(stps[i], "stps[" + std::to_string(i) + "]"));
    if (y.back().size() != q.size() || s.back().size() != q.size())
      throw py::value_error("two_loop: history vectors differ in size from q");
  }
  py::gil_scoped_release nogil;
  const int64_t n = q.size();
  float* qp = fmut(q);
  std::vector<float> al(m);
  for (size_t k = m; k-- > 0;) {
    al[k] = static_cast<float>(static_cast<float>(dot(fdata(s[k]), qp, n)) * static_cast<float>(ro[k]));
    axpy(-al[k], fdata(y[k]), qp, n);
  }
  const float h = static_cast<float>(h_diag);
  parallel_ranges(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) qp[i] *= h;
  });
  for (size_t k = 0; k < m; ++k) {
    const float be = static_cast<float>(static_cast<float>(dot(fdata(y[k]), qp, n)) * static_cast<float>(ro[k]));
    axpy(static_cast<double>(al[k] - be), fdata(s[k]), qp, n);
  }
}

// Arrays given as one array or a list of them, each checked with `check`.
template <class Check>
std::vector<py::array> array_list(py::handle o, const char* what, Check check) {
  std::vector<py::array> out;
  if (py::isinstance<py::array>(o)) {
    out.push_back(check(o, std::string(what)));
    return out;
  }
  if (!py::isinstance<py::list>(o) && !py::isinstance<py::tuple>(o))
    throw py::type_error(std::string(what) + " must be an array or a list of arrays, got " +
                         type_name(o));
  py::sequence seq = py::reinterpret_borrow<py::sequence>(o);
  for (size_t i = 0; i < seq.size(); ++i)
    out.push_back(check(seq[i], std::string(what) + "[" + std::to_string(i) + "]"));
  return out;
}

double py_norm(py::handle arrays, double p) {
  if (!(p > 0)) throw py::value_error("norm_type must be > 0 (or inf), got " + std::to_string(p));
  std::vector<py::array> a = array_list(arrays, "grads", checked_input);
  std::vector<Run> runs;
  for (const py::array& x : a) runs.emplace_back(fdata(x), x.size());
  py::gil_scoped_release nogil;
  return norm(runs, p);
}

void py_scale(py::handle arrays, double factor) {
  std::vector<py::array> a = array_list(arrays, "grads", checked_inplace_array);
  py::gil_scoped_release nogil;
  for (py::array& x : a) scale(fmut(x), x.size(), factor);
}

template <class Rule>
void bind_plan(py::module_& m, const char* name) {
  using P = Plan<Rule>;
  std::vector<std::string> slots(Rule::kSlotNames, Rule::kSlotNames + Rule::kSlots);
  py::class_<P>(m, name)
      .def(py::init<py::list, py::list, std::vector<int>, py::list, py::array, py::object,
                    py::list, py::object>(),
           py::arg("groups"), py::arg("params"), py::arg("group_of"), py::arg("states"),
           py::arg("steps"), py::arg("flat_grads") = py::none(), py::arg("scalars") = py::list(),
           py::arg("shadows") = py::none())
      .def("step", &P::step, py::arg("grads") = py::none())
      .def("__len__", &P::size)
      .def_property("max_grad_norm", &P::max_grad_norm, &P::set_max_grad_norm)
      .def_property_readonly("last_grad_norm", &P::last_grad_norm)
      .def_property("nonfinite", &P::nonfinite, &P::set_nonfinite)
      .def_property("skipped_steps", &P::skipped_steps, &P::set_skipped_steps)
      .def_property_readonly("logged", &P::logged)
      .def_property("fused_check", &P::fused_check, &P::set_fused_check)
      .def_property("state_in_place", &P::state_in_place, &P::set_state_in_place)
      .def_property_readonly("logged_state", &P::logged_state)
      .def_property_readonly("last_check", &P::last_check)
      .def_static("validate", &P::validate, py::arg("group"), py::arg("index") = 0)
      .def_static(
          "needed_slots",
          [](py::handle group) {
            GroupReader r(group, 0);
            const typename Rule::Hyper h = Rule::read(r);
            std::vector<std::string> names;
            for (int k = 0; k < Rule::kSlots; ++k)
              if (Rule::needs_slot(h, k)) names.emplace_back(Rule::kSlotNames[k]);
            return names;
          },
          py::arg("group"), "Names of the state arrays the rule keeps for this group's options.")
      .def_property_readonly_static("slots", [slots](py::handle) { return slots; })
      .def_property_readonly_static("scalars", [](py::handle) {
        py::dict d;
        for (int k = 0; k < Rule::kScalars; ++k) d[Rule::kScalarNames[k]] = Rule::kScalarInit[k];
        return d;
      });
}

}  // namespace
}  // namespace fastoptim

PYBIND11_MODULE(_core, m) {
  using namespace fastoptim;
  m.doc() = "fastoptim native core: SIMD + OpenMP update kernels (private; use fastoptim).";
  init_target_from_env();

  py::register_exception<StalePlan>(m, "StalePlan", PyExc_RuntimeError);

  m.def("cpu_target", [] { return std::string(active_kernels().name); },
        "The SIMD target the kernels run on: 'avx512', 'avx2' or 'scalar'.");
  m.def("available_targets", &available_targets,
        "Targets this build has and this CPU runs, best first.");
  m.def("set_target", &set_target, py::arg("name"),
        "Forces a target (testing hook; FASTOPTIM_DISABLE is the user-facing switch).");
  m.def("check_params", [](py::list params) { checked_params(params); }, py::arg("params"),
        "Raises TypeError/ValueError unless every parameter can be updated in place.");
  m.def("last_level_cache", &last_level_cache_bytes,
        "Bytes of the last-level cache as the non-finite check sees it (Plan.step).");
  m.def("get_num_threads", &num_threads);
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("set_num_threads: n must be >= 1, got " + std::to_string(n));
    set_num_threads(n);
  }, py::arg("n"));
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif

  m.def("dot", &py_dot, py::arg("x"), py::arg("y"),
        "Sum of x * y in double precision, identical for any thread count.");
  m.def("axpy", &py_axpy, py::arg("alpha"), py::arg("x"), py::arg("y"),
        "y += alpha * x in place; y may be a list of arrays that x covers in order.");
  m.def("norm", &py_norm, py::arg("arrays"), py::arg("p"),
        "The p-norm of all elements of the arrays, in double, identical for any thread count.");
  m.def("scale", &py_scale, py::arg("arrays"), py::arg("factor"), "arrays *= factor, in place.");
  m.def("clip_coefficient", &clip_coefficient, py::arg("max_norm"), py::arg("total_norm"));
  m.def("two_loop", &py_two_loop, py::arg("q"), py::arg("dirs"), py::arg("stps"), py::arg("ro"),
        py::arg("h_diag"), "L-BFGS two-loop recursion in place on q.");

  bind_plan<Sgd>(m, "SGD");
  bind_plan<Adam>(m, "Adam");
  bind_plan<Adagrad>(m, "Adagrad");
  bind_plan<Rmsprop>(m, "RMSprop");
  bind_plan<Adadelta>(m, "Adadelta");
  bind_plan<Adamax>(m, "Adamax");
  bind_plan<Nadam>(m, "NAdam");
  bind_plan<Radam>(m, "RAdam");
  bind_plan<Lion>(m, "Lion");
  bind_plan<ProximalSgd>(m, "ProximalSGD");
  bind_plan<ProximalAdagrad>(m, "ProximalAdagrad");
  bind_plan<LookaheadSync>(m, "LookaheadSync");
  bind_plan<EmaUpdate>(m, "EmaUpdate");
  bind_plan<EmaSwap>(m, "EmaSwap");
  bind_plan<Traffic>(m, "Traffic");
}
