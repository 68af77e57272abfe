// pybind11 bindings of the native core: one class per rule (a StepEngine, step_engine.h), the
// vector operations (vector_ops.h), and the choice of SIMD target and thread count. Arguments
// are checked here or in arguments.cc before any kernel runs; kernels run with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "arguments.h"
#include "dispatch.h"
#include "parallel.h"
#include "step_engine.h"
#include "vector_ops.h"

namespace fastoptim {
namespace {

double py_dot(py::handle x, py::handle y) {
  py::array a = checked_input(x, "x"), b = checked_input(y, "y");
  if (a.size() != b.size()) throw py::value_error("dot: x and y differ in size");
  py::gil_scoped_release nogil;
  return dot(fdata(a), fdata(b), a.size());
}

// Applies fn pairwise to a[i] and b[i] (lists of writable arrays of equal shapes, or one array
// each).
void py_pairwise(PairFn fn, double s, const char* a_name, py::handle a_obj, const char* b_name,
                 py::handle b_obj) {
  std::vector<py::array> a = array_list(a_obj, a_name, checked_inplace_array);
  std::vector<py::array> b = array_list(b_obj, b_name, checked_inplace_array);
  if (a.size() != b.size())
    throw py::value_error(std::string(a_name) + " and " + b_name + " differ in length (" +
                          std::to_string(a.size()) + " and " + std::to_string(b.size()) + ")");
  std::vector<Pair> pairs;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same_shape(a[i], b[i]))
      throw py::value_error(std::string(a_name) + "[" + std::to_string(i) + "] has shape " +
                            shape_str(a[i]) + " but " + b_name + "[" + std::to_string(i) +
                            "] has shape " + shape_str(b[i]));
    pairs.push_back(Pair{fmut(a[i]), fmut(b[i]), a[i].size()});
  }
  py::gil_scoped_release nogil;
  pairwise(fn, s, pairs);
}

// A finite real in [0, 1], else ValueError naming it.
double unit_interval(const char* name, double v) {
  if (!(v >= 0 && v <= 1))
    throw py::value_error("Invalid " + std::string(name) + ": " +
                          std::string(py::repr(py::float_(v))) + " (must be in [0, 1])");
  return v;
}

// y += alpha * x, where y is one array or a list of arrays that x covers in order.
void py_axpy(double alpha, py::handle x, py::handle y) {
  py::array a = checked_input(x, "x");
  std::vector<py::array> ys;
  if (py::isinstance<py::list>(y) || py::isinstance<py::tuple>(y))
    ys = checked_params(py::list(py::reinterpret_borrow<py::sequence>(y)));
  else
    ys.push_back(checked_inplace_array(y, "y"));
  std::vector<Pair> pairs;
  int64_t off = 0;
  for (py::array& t : ys) {
    pairs.push_back(Pair{fmut(t), const_cast<float*>(fdata(a)) + off, t.size()});
    off += t.size();
  }
  if (off != a.size()) throw py::value_error("axpy: x and y differ in size");
  py::gil_scoped_release nogil;
  pairwise(active_kernels().axpy, alpha, pairs);
}

void py_two_loop(py::handle q_obj, py::list dirs, py::list stps, std::vector<double> ro,
                 double h_diag) {
  py::array q = checked_inplace_array(q_obj, "q");
  const size_t m = ro.size();
  if (dirs.size() != m || stps.size() != m)
    throw py::value_error("two_loop: dirs, stps and ro differ in length");
  std::vector<py::array> keep;
  std::vector<const float*> y, s;
  for (size_t i = 0; i < m; ++i) {
    keep.push_back(checked_input(dirs[i], "dirs[" + std::to_string(i) + "]"));
    keep.push_back(checked_input(stps[i], "stps[" + std::to_string(i) + "]"));
    if (keep[2 * i].size() != q.size() || keep[2 * i + 1].size() != q.size())
      throw py::value_error("two_loop: history vectors differ in size from q");
    y.push_back(fdata(keep[2 * i]));
    s.push_back(fdata(keep[2 * i + 1]));
  }
  py::gil_scoped_release nogil;
  two_loop(fmut(q), q.size(), y, s, ro, h_diag);
}

double py_norm(py::handle arrays, double p) {
  if (!(p > 0)) throw py::value_error("norm_type must be > 0 (or inf), got " + std::to_string(p));
  std::vector<py::array> a = array_list(arrays, "grads", checked_input);
  std::vector<Run> runs;
  for (const py::array& x : a) runs.push_back(Run{fdata(x), x.size()});
  py::gil_scoped_release nogil;
  return norm(runs, p);
}

void py_scale(py::handle arrays, double factor) {
  std::vector<py::array> a = array_list(arrays, "grads", checked_inplace_array);
  py::gil_scoped_release nogil;
  for (py::array& x : a) scale(fmut(x), x.size(), factor);
}

template <class Rule>
void bind_rule(py::module_& m) {
  using E = StepEngine<Rule>;
  std::vector<std::string> slots(Rule::kSlotNames, Rule::kSlotNames + Rule::kSlots);
  py::class_<E>(m, Rule::kName)
      .def(py::init<py::list, py::list, std::vector<int>, py::list, py::array, py::object,
                    py::list, int, uint32_t, int, py::object, py::object>(),
           py::arg("groups"), py::arg("params"), py::arg("group_of"), py::arg("states"),
           py::arg("steps"), py::arg("flat_grads") = py::none(), py::arg("scalars") = py::list(),
           py::arg("state_format") = 0, py::arg("seed") = 0, py::arg("param_format") = 0,
           py::arg("scales") = py::none(), py::arg("masters") = py::none())
      .def("step", &E::step, py::arg("grads") = py::none())
      .def("__len__", &E::size)
      .def_property("max_grad_norm", &E::max_grad_norm, &E::set_max_grad_norm)
      .def_property_readonly("last_grad_norm", &E::last_grad_norm)
      .def_property("nonfinite", &E::nonfinite, &E::set_nonfinite)
      .def_property("skipped_steps", &E::skipped_steps, &E::set_skipped_steps)
      .def_property_readonly("last_check", &E::last_check)
      .def_static(
          "validate", [](py::handle group, int index) { E::read(group, index); },
          py::arg("group"), py::arg("index") = 0,
          "Raises TypeError/ValueError/KeyError unless the group's hyperparameters are valid.")
      .def_static(
          "needed_slots",
          [](py::handle group) {
            const typename Rule::Hyper h = E::read(group, 0);
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
  // The dtypes grad_format() compares with, made now, under the import lock: made at a first
  // step, importing ml_dtypes could let another thread wait on the static's guard with the GIL.
  grad_format(py::dtype("float16"));

  py::register_exception<StalePlan>(m, "StalePlan", PyExc_RuntimeError);

  m.def("cpu_target", [] { return std::string(active_kernels().name); },
        "The SIMD target the kernels run on: 'avx512', 'avx2' or 'scalar'.");
  m.def("available_targets", &available_targets,
        "Targets this build has and this CPU runs, best first.");
  m.def("set_target", &set_target, py::arg("name"),
        "Forces a target (testing hook; FASTOPTIM_DISABLE is the user-facing switch).");
  m.def("check_params", [](py::list params, int bytes) { checked_params(params, bytes); },
        py::arg("params"), py::arg("bytes") = 4,
        "Raises TypeError/ValueError unless every parameter can be updated in place (float32, "
        "or float16/bfloat16 with bytes=2).");
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
  m.def("quantize_int8", [](py::handle x, py::handle codes, py::handle scales) {
    const py::array xs = checked_input(x, "x");
    py::array sc = checked_inplace_array(scales, "scales");
    py::array c = checked_state_array(codes, "codes", 1);
    if (c.size() != xs.size() || sc.size() != (xs.size() + kBlock - 1) / kBlock)
      throw py::value_error("quantize_int8: codes must have x's size, scales one per block");
    active_kernels().encode_int8(fdata(xs), xs.size(), static_cast<uint8_t*>(c.mutable_data()),
                                 static_cast<float*>(sc.mutable_data()));
  }, py::arg("x"), py::arg("codes"), py::arg("scales"),
        "int8 state's quantization of float32 x into codes (uint8) and block scales, in place.");
  m.def("dequantize_int8", [](py::handle codes, py::handle scales, py::handle out) {
    const py::array sc = checked_input(scales, "scales");
    py::array c = checked_state_array(codes, "codes", 1), o = checked_inplace_array(out, "out");
    if (c.size() != o.size() || sc.size() != (o.size() + kBlock - 1) / kBlock)
      throw py::value_error("dequantize_int8: out must have codes' size, scales one per block");
    active_kernels().decode_int8(static_cast<const uint8_t*>(c.data()), fdata(sc), o.size(),
                                 fmut(o));
  }, py::arg("codes"), py::arg("scales"), py::arg("out"),
        "int8 state's codes and block scales dequantized into float32 out.");
  m.attr("INT8_BLOCK") = kBlock;
  m.def("clip_coefficient", &clip_coefficient, py::arg("max_norm"), py::arg("total_norm"));
  m.def("two_loop", &py_two_loop, py::arg("q"), py::arg("dirs"), py::arg("stps"), py::arg("ro"),
        py::arg("h_diag"), "L-BFGS two-loop recursion in place on q.");
  m.def("ema_update", [](py::handle shadow, py::handle params, double decay) {
    unit_interval("decay", decay);
    py_pairwise(active_kernels().ema_update, 1.0 - decay, "shadow", shadow, "params", params);
  }, py::arg("shadow"), py::arg("params"), py::arg("decay"),
     "shadow += (1 - decay) * (params - shadow), in place, pairwise over the lists.");
  m.def("lookahead_sync", [](py::handle slow, py::handle params, double alpha) {
    unit_interval("alpha", alpha);
    py_pairwise(active_kernels().lookahead_sync, alpha, "slow", slow, "params", params);
  }, py::arg("slow"), py::arg("params"), py::arg("alpha"),
     "slow += alpha * (params - slow); params = slow, in place, pairwise over the lists.");
  m.def("swap", [](py::handle a, py::handle b) {
    py_pairwise(active_kernels().swap, 0.0, "a", a, "b", b);
  }, py::arg("a"), py::arg("b"), "Exchanges the contents of a[i] and b[i], in place.");

  AllRules::for_each([&m](auto rule) { bind_rule<decltype(rule)>(m); });
}
