#include "arguments.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace fastoptim {

const py::object& numpy_attr(const char* name) {
  return *new py::object(py::module_::import("numpy").attr(name));
}

std::string type_name(py::handle o) { return py::str(py::type::handle_of(o).attr("__name__")); }

namespace {

bool is_numpy_bool(py::handle o) {
  static const py::object& np_bool = numpy_attr("bool_");
  return PyObject_IsInstance(o.ptr(), np_bool.ptr()) == 1;
}

}  // namespace

GroupReader::GroupReader(py::handle dict, int index) : dict_(dict), index_(index) {
  if (!PyDict_Check(dict.ptr()))
    throw py::type_error("param group " + std::to_string(index) + " must be a dict, got " +
                         type_name(dict));
}

double GroupReader::real(const char* key, Bound bound) {
  return check(key, key, to_double(key, get(key)), bound);
}

bool GroupReader::flag(const char* key) {
  py::handle o = get(key);
  if (PyBool_Check(o.ptr()) || PyLong_Check(o.ptr()) || is_numpy_bool(o))
    return PyObject_IsTrue(o.ptr()) == 1;
  throw py::type_error(std::string(key) + " in param group " + std::to_string(index_) +
                       " must be a bool, got " + type_name(o));
}

void GroupReader::betas(const char* key, double* b1, double* b2) {
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

void GroupReader::fail(const char* key, const std::string& why) {
  throw py::value_error("Invalid " + std::string(key) + " in param group " +
                        std::to_string(index_) + ": " + why);
}

py::handle GroupReader::get(const char* key) {
  PyObject* o = PyDict_GetItemString(dict_.ptr(), key);  // borrowed
  if (!o)
    throw py::key_error("param group " + std::to_string(index_) + " has no '" + key + "'");
  return o;
}

double GroupReader::to_double(const char* key, py::handle o) {
  if (PyFloat_Check(o.ptr())) return PyFloat_AS_DOUBLE(o.ptr());
  if (!PyUnicode_Check(o.ptr()) && !PyBytes_Check(o.ptr()) && !PyBool_Check(o.ptr())) {
    const double d = PyFloat_AsDouble(o.ptr());
    if (!(d == -1.0 && PyErr_Occurred())) return d;
    PyErr_Clear();
  }
  throw py::type_error(std::string(key) + " in param group " + std::to_string(index_) +
                       " must be a real number, got " + type_name(o));
}

double GroupReader::check(const char* key, const char* shown, double v, Bound bound) {
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
  if (rule)
    fail(key, std::string(shown) + "=" + std::string(py::repr(py::float_(v))) + " (" + rule + ")");
  return v;
}

py::array checked_float32(py::handle o, const std::string& what) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error(what + " must be a numpy.ndarray of float32, got " + type_name(o));
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!a.dtype().equal(py::dtype::of<float>()))
    throw py::type_error(what + " must have dtype float32 (native byte order), got " +
                         std::string(py::str(a.dtype())));
  return a;
}

bool contiguous_aligned(const py::array& a) {
  const int flags = py::detail::array_proxy(a.ptr())->flags;
  return (flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) &&
         (flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_);
}

py::array checked_input(py::handle o, const std::string& what) {
  py::array a = checked_float32(o, what);
  if (!contiguous_aligned(a))
    throw py::value_error(what + " must be C-contiguous and 4-byte aligned");
  return a;
}

py::array checked_inplace_array(py::handle o, const std::string& what) {
  py::array a = checked_input(o, what);
  if (!a.writeable()) throw py::value_error(what + " is read-only");
  return a;
}

py::array checked_state_array(py::handle o, const std::string& what, int bytes) {
  if (bytes == 4) return checked_inplace_array(o, what);
  const bool bits16 = bytes == 2;
  if (!py::isinstance<py::array>(o) ||
      !py::reinterpret_borrow<py::array>(o).dtype().equal(
          bits16 ? py::dtype::of<uint16_t>() : py::dtype::of<uint8_t>()))
    throw py::type_error(what + (bits16 ? " must be 16-bit state as a numpy.ndarray of uint16"
                                        : " must be int8 state codes as a numpy.ndarray of uint8"));
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!contiguous_aligned(a) || !a.writeable())
    throw py::value_error(what + " must be C-contiguous, aligned and writeable");
  return a;
}

std::vector<py::array> checked_params(py::list params, int bytes) {
  std::vector<py::array> out;
  std::vector<std::pair<const char*, size_t>> starts;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string what = "params[" + std::to_string(i) + "]";
    if (bytes == 4) {
      out.push_back(checked_inplace_array(params[i], what));
    } else {  // 16-bit parameters: float16 or bfloat16, as the optimizer's Python side checked
      if (!py::isinstance<py::array>(params[i]) ||
          static_cast<GradFormat>(-1) ==
              grad_format(py::reinterpret_borrow<py::array>(params[i]).dtype()) ||
          py::reinterpret_borrow<py::array>(params[i]).itemsize() != 2)
        throw py::type_error(what + " must be a float16 or bfloat16 array");
      out.push_back(py::reinterpret_borrow<py::array>(params[i]));
      if (!contiguous_aligned(out.back()) || !out.back().writeable())
        throw py::value_error(what + " must be C-contiguous, aligned and writeable");
    }
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

GradFormat grad_format(const py::dtype& d) {
  if (d.equal(py::dtype::of<float>())) return GradFormat::kFloat32;
  if (d.itemsize() != 2) return static_cast<GradFormat>(-1);
  // Kept for the process's lifetime, as numpy_attr's objects.
  static const py::dtype* half = new py::dtype("float16");
  static const py::dtype* bf16 = new py::dtype(
      py::dtype::from_args(py::module_::import("ml_dtypes").attr("bfloat16")));
  if (d.equal(*half)) return GradFormat::kFloat16;
  if (d.equal(*bf16)) return GradFormat::kBfloat16;
  return static_cast<GradFormat>(-1);
}

GradFormat read_grads(py::handle grads, const std::string& rule,
                      const std::vector<py::array>& params, std::vector<const void*>& ptrs,
                      std::vector<py::object>& copies) {
  if (!PyList_Check(grads.ptr()) && !PyTuple_Check(grads.ptr()))
    throw py::type_error(rule + ".step(grads): grads must be a list or tuple of arrays, got " +
                         type_name(grads));
  py::sequence seq = py::reinterpret_borrow<py::sequence>(grads);
  if (static_cast<size_t>(seq.size()) != params.size())
    throw py::value_error(rule + ".step(grads): got " + std::to_string(seq.size()) +
                          " grads for " + std::to_string(params.size()) + " parameters");
  GradFormat format = GradFormat::kFloat32;
  int first = -1;  // the first gradient, whose dtype every other must have
  for (size_t i = 0; i < params.size(); ++i) {
    py::handle o = seq[i];
    if (o.is_none()) continue;
    const std::string what = "grads[" + std::to_string(i) + "]";
    py::array g;
    GradFormat f = GradFormat::kFloat32;
    if (py::isinstance<py::array>(o)) {
      g = py::reinterpret_borrow<py::array>(o);
      f = grad_format(g.dtype());
      if (static_cast<int>(f) < 0) checked_float32(o, what);  // throws, naming the dtype
    } else {
      // Python numbers, lists, NumPy scalars: read as float32, as torch.tensor would.
      static const py::object& asarray = numpy_attr("asarray");
      static const py::object& float32 = numpy_attr("float32");
      try {
        g = asarray(o, float32);
      } catch (py::error_already_set&) {
        throw py::type_error(what + " must be a float32 array (or numbers), got " +
                             type_name(o));
      }
      copies.push_back(g);
    }
    if (first >= 0 && f != format)
      throw py::type_error(what + " has dtype " + std::string(py::str(g.dtype())) + " but grads[" +
                           std::to_string(first) + "] has another: one step takes grads of one "
                           "dtype (float32, float16 or bfloat16)");
    if (first < 0) first = static_cast<int>(i);
    format = f;
    if (!same_shape(g, params[i]))
      throw py::value_error(what + " has shape " + shape_str(g) + " but params[" +
                            std::to_string(i) + "] has shape " + shape_str(params[i]));
    if (!contiguous_aligned(g)) {  // strided or misaligned: read through a contiguous copy
      static const py::object& copy = numpy_attr("copy");
      g = copy(g, "C");  // a new array: contiguous and aligned
      copies.push_back(g);
    }
    ptrs[i] = g.data();
    copies.push_back(g);  // held while the GIL is released, whatever the caller's list does
  }
  return format;
}

bool same_shape(const py::array& a, const py::array& b) {
  return a.ndim() == b.ndim() && std::equal(a.shape(), a.shape() + a.ndim(), b.shape());
}

std::string shape_str(const py::array& a) { return py::str(py::tuple(a.attr("shape"))); }

std::vector<py::array> array_list(py::handle o, const char* what,
                                  py::array (*check)(py::handle, const std::string&)) {
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

}  // namespace fastoptim
