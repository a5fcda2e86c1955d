#include "cardiotorch/io/mat.h"

#include <ATen/ATen.h>
#include <matio.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <filesystem>
#include <memory>
#include <mutex>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/io/wfdb.h"
#include "io/record_util.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

// matio reports problems through a global log callback, and its default one abort()s on
// errors; ours keeps the last message so it can go into the DataError.
thread_local std::string g_last_matio_message;
void matio_log(int /*level*/, char* message) { g_last_matio_message = message ? message : ""; }
// matio (and HDF5 behind it for v7.3 files) is not documented as thread-safe, and data loaders
// read from several threads: one file at a time.
std::mutex& matio_mutex() {
  static std::mutex m;
  return m;
}

void install_matio_log() {
  static std::once_flag once;
  std::call_once(once, [] { Mat_LogInitFunc("cardiotorch", matio_log); });
}

struct MatCloser {
  void operator()(mat_t* m) const { Mat_Close(m); }
};
struct VarFreer {
  void operator()(matvar_t* v) const { Mat_VarFree(v); }
};
using MatPtr = std::unique_ptr<mat_t, MatCloser>;
using VarPtr = std::unique_ptr<matvar_t, VarFreer>;

std::string matio_detail() {
  return g_last_matio_message.empty() ? std::string() : " (matio: " + g_last_matio_message + ")";
}

MatPtr open_mat(const std::string& path) {
  install_matio_log();
  std::error_code ec;
  CT_CHECK(fs::exists(path, ec), DataError, path, ": cannot open (no such file)");
  CT_CHECK(!fs::is_directory(path, ec), DataError, path, ": is a directory, expected a .mat file");
  g_last_matio_message.clear();
  MatPtr m(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  CT_CHECK(m, DataError, path, ": not a readable MATLAB file (v4, v5 or v7.3)", matio_detail());
  return m;
}

std::vector<std::string> names_in(mat_t* m) {
  std::vector<std::string> names;
  Mat_Rewind(m);
  while (matvar_t* v = Mat_VarReadNextInfo(m)) {
    if (v->name) names.emplace_back(v->name);
    Mat_VarFree(v);
  }
  Mat_Rewind(m);
  return names;
}

const char* class_name(matio_classes c) {
  switch (c) {
    case MAT_C_CELL: return "cell";
    case MAT_C_STRUCT: return "struct";
    case MAT_C_OBJECT: return "object";
    case MAT_C_CHAR: return "char";
    case MAT_C_SPARSE: return "sparse";
    case MAT_C_FUNCTION: return "function";
    case MAT_C_OPAQUE: return "opaque";
    case MAT_C_EMPTY: return "empty";
    default: return "numeric";
  }
}

// A numeric matvar as a C-order tensor with MATLAB's dims (matio data is column-major).
at::Tensor to_tensor(const matvar_t* v, const std::string& where) {
  CT_CHECK(!v->isComplex, DataError, where, ": complex data is not supported");
  at::ScalarType st;
  int elem = 0;
  bool widen_u16 = false, widen_u32 = false;
  switch (v->data_type) {
    case MAT_T_DOUBLE: st = at::kDouble, elem = 8; break;
    case MAT_T_SINGLE: st = at::kFloat, elem = 4; break;
    case MAT_T_INT8: st = at::kChar, elem = 1; break;
    case MAT_T_UINT8: st = at::kByte, elem = 1; break;
    case MAT_T_INT16: st = at::kShort, elem = 2; break;
    case MAT_T_UINT16: st = at::kShort, elem = 2, widen_u16 = true; break;
    case MAT_T_INT32: st = at::kInt, elem = 4; break;
    case MAT_T_UINT32: st = at::kInt, elem = 4, widen_u32 = true; break;
    case MAT_T_INT64: st = at::kLong, elem = 8; break;
    default:
      throw DataError(str_cat(where, ": unsupported MATLAB data type ", static_cast<int>(v->data_type), " (",
                              class_name(v->class_type), "); expected a real numeric matrix"));
  }
  std::vector<int64_t> dims;
  int64_t n = 1;
  for (int i = v->rank - 1; i >= 0; --i) {
    dims.push_back(static_cast<int64_t>(v->dims[i]));
    n *= static_cast<int64_t>(v->dims[i]);
  }
  CT_CHECK(n == 0 || (v->data && v->nbytes >= static_cast<size_t>(n) * elem), DataError, where,
           ": variable data missing or short (file truncated?)", matio_detail());
  at::Tensor t = at::empty(dims, at::TensorOptions().dtype(st));
  if (n) std::memcpy(t.data_ptr(), v->data, static_cast<size_t>(n) * elem);
  if (widen_u16) t = t.to(at::kInt).bitwise_and(0xffff);
  if (widen_u32) t = t.to(at::kLong).bitwise_and(int64_t{0xffffffff});
  std::vector<int64_t> perm(dims.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
  return t.permute(perm).contiguous();
}

std::string char_value(const matvar_t* v) {
  if (!v || v->class_type != MAT_C_CHAR || !v->data) return {};
  size_t n = 1;
  for (int i = 0; i < v->rank; ++i) n *= v->dims[i];
  std::string out;
  if (v->data_size == 1) {
    out.assign(static_cast<const char*>(v->data), n);
  } else if (v->data_size == 2) {
    const auto* p = static_cast<const uint16_t*>(v->data);
    for (size_t i = 0; i < n; ++i) out += p[i] < 128 ? static_cast<char>(p[i]) : '?';
  }
  return trim(out);
}

std::string scalar_text(const matvar_t* v, const std::string& where) {
  if (!v) return {};
  if (v->class_type == MAT_C_CHAR) return char_value(v);
  if (v->class_type == MAT_C_STRUCT || v->class_type == MAT_C_CELL) return {};
  const at::Tensor t = to_tensor(v, where);
  if (t.numel() != 1) return {};
  const double x = t.to(at::kDouble).item<double>();
  return x == std::floor(x) && std::abs(x) < 1e15 ? std::to_string(static_cast<int64_t>(x)) : std::to_string(x);
}

struct Loaded {
  VarPtr top;  // owns the data (struct fields are views into it)
  const matvar_t* var = nullptr;
  std::string name;       // "val", "ECG.data"
  bool cpsc2018 = false;  // struct ECG with data + sex/age
};

Loaded load_variable(mat_t* m, const std::string& path, const std::string& requested) {
  const std::vector<std::string> names = names_in(m);
  std::string top = requested, field;
  if (!requested.empty()) {
    const auto dot = requested.find('.');
    if (dot != std::string::npos) top = requested.substr(0, dot), field = requested.substr(dot + 1);
    CT_CHECK(std::find(names.begin(), names.end(), top) != names.end(), DataError, path, ": no variable '", top, "'",
             did_you_mean(top, names),
             "; variables: ", names.empty() ? "none (truncated or corrupt file?)" : join(names));
  } else {
    for (const char* cand : {"val", "ecg", "data", "ECG"})
      if (std::find(names.begin(), names.end(), cand) != names.end()) {
        top = cand;
        break;
      }
    CT_CHECK(!top.empty(), DataError, path, ": no ECG variable (looked for val, ecg, data, ECG; variables: ",
             names.empty() ? "none: truncated or corrupt file?" : join(names), ")");
  }
  g_last_matio_message.clear();
  Loaded out;
  out.top.reset(Mat_VarRead(m, top.c_str()));
  CT_CHECK(out.top, DataError, path, ": cannot read variable '", top, "' (truncated or corrupt file?)", matio_detail());
  out.var = out.top.get();
  out.name = top;
  if (out.var->class_type == MAT_C_STRUCT) {
    if (field.empty()) field = "data";
    std::vector<std::string> fields;
    const unsigned nf = Mat_VarGetNumberOfFields(out.top.get());
    char* const* fn = Mat_VarGetStructFieldnames(out.top.get());
    for (unsigned i = 0; i < nf; ++i) fields.emplace_back(fn[i]);
    const matvar_t* f = Mat_VarGetStructFieldByName(out.top.get(), field.c_str(), 0);
    CT_CHECK(f, DataError, path, ": struct '", top, "' has no field '", field, "'", did_you_mean(field, fields),
             "; fields: ", join(fields));
    out.var = f;
    out.name = top + "." + field;
    out.cpsc2018 = field == "data" && (std::find(fields.begin(), fields.end(), "sex") != fields.end() ||
                                       std::find(fields.begin(), fields.end(), "age") != fields.end());
  } else {
    CT_CHECK(field.empty(), DataError, path, ": variable '", top, "' is not a struct (no field '", field, "')");
  }
  CT_CHECK(out.var->class_type != MAT_C_CELL && out.var->class_type != MAT_C_STRUCT &&
               out.var->class_type != MAT_C_CHAR && out.var->class_type != MAT_C_SPARSE,
           DataError, path, ": variable '", out.name, "' is a ", class_name(out.var->class_type),
           " array, expected a numeric matrix");
  return out;
}

bool is_integer_class(matio_classes c) {
  return c == MAT_C_INT8 || c == MAT_C_UINT8 || c == MAT_C_INT16 || c == MAT_C_UINT16 || c == MAT_C_INT32 ||
         c == MAT_C_UINT32 || c == MAT_C_INT64 || c == MAT_C_UINT64;
}

Record with_header(const std::string& path, const std::string& hea, const at::Tensor& raw, const std::string& var) {
  const std::string stem = hea.substr(0, hea.size() - 4);
  const wfdb::Header h = wfdb::read_header(stem);
  CT_CHECK(!h.is_multi_segment(), DataError, hea, ": multi-segment header beside ", path,
           "; read the record through its .hea instead");
  const std::string file = fs::path(path).filename().string();
  std::vector<const wfdb::SignalSpec*> specs;
  for (const auto& s : h.signals)
    if (s.file_name == file) specs.push_back(&s);
  CT_CHECK(!specs.empty(), DataError, hea, ": no signal line names ", file);
  CT_CHECK(raw.dim() == 2, DataError, path, ": variable '", var, "' has ", raw.dim(), " dims, expected 2");
  CT_CHECK(raw.size(0) == static_cast<int64_t>(specs.size()), DataError, path, ": variable '", var, "' has ",
           raw.size(0), " rows but ", hea, " declares ", specs.size(), " signals in ", file);
  CT_CHECK(h.n_samples < 0 || raw.size(1) == h.n_samples, DataError, path, ": variable '", var, "' has ", raw.size(1),
           " samples but ", hea, " declares ", h.n_samples);
  for (const auto* s : specs)
    CT_CHECK(s->samples_per_frame == 1, DataError, hea, ":", s->line,
             ": signals with several samples per frame cannot be read from the .mat; read the .hea");
  Record r;
  r.name = fs::path(stem).filename().string();
  r.source = path;
  r.fs = h.fs;
  r.comments = h.comments;
  // The same arithmetic as the WFDB decoder ((d - baseline) / gain in double, then float),
  // so both paths give bit-identical records.
  const at::Tensor d = raw.to(at::kDouble).contiguous();
  const int64_t n = d.size(1);
  r.signal = at::empty({static_cast<int64_t>(specs.size()), n}, at::kFloat);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t c = 0; c < specs.size(); ++c) {
    const double* src = d.data_ptr<double>() + static_cast<int64_t>(c) * n;
    float* dst = r.signal.data_ptr<float>() + static_cast<int64_t>(c) * n;
    const double g = specs[c]->adc_gain, b = static_cast<double>(specs[c]->baseline);
    for (int64_t i = 0; i < n; ++i) {
      const float v = static_cast<float>((src[i] - b) / g);
      dst[i] = src[i] == wfdb::kInvalidSample ? nan : v;
    }
    r.leads.push_back(normalize_lead_name(specs[c]->description));
    r.units.push_back(normalize_units(specs[c]->units));
  }
  meta_from_comments(r.comments, r.meta);
  r.meta["format"] = "mat+wfdb";
  return r;
}

}  // namespace

std::vector<std::string> mat_variable_names(const std::string& path) {
  std::lock_guard<std::mutex> lock(matio_mutex());
  MatPtr m = open_mat(path);
  return names_in(m.get());
}

at::Tensor read_mat_array(const std::string& path, const std::string& variable) {
  std::lock_guard<std::mutex> lock(matio_mutex());
  MatPtr m = open_mat(path);
  Loaded l = load_variable(m.get(), path, variable);
  return to_tensor(l.var, path + ": " + l.name);
}

Record read_mat_record(const std::string& path, const MatOptions& options) {
  std::lock_guard<std::mutex> lock(matio_mutex());
  MatPtr m = open_mat(path);
  // A WFDB header beside the file means the CinC layout: the data must be `val`.
  const std::string hea = (fs::path(path).parent_path() / fs::path(path).stem()).string() + ".hea";
  std::error_code ec;
  const bool cinc =
      options.use_header && (options.variable.empty() || options.variable == "val") && fs::exists(hea, ec);
  Loaded l = load_variable(m.get(), path, cinc ? "val" : options.variable);
  const at::Tensor raw = to_tensor(l.var, path + ": " + l.name);
  if (cinc) return with_header(path, hea, raw, l.name);

  CT_CHECK(raw.dim() >= 1 && raw.dim() <= 2, DataError, path, ": variable '", l.name, "' has ", raw.dim(),
           " dims, expected a vector or a matrix");
  at::Tensor sig = raw.dim() == 1 ? raw.unsqueeze(0) : raw;
  if (sig.size(0) > sig.size(1)) sig = sig.t();
  Record r;
  r.name = fs::path(path).stem().string();
  r.source = path;
  r.signal = sig.to(at::kFloat).contiguous();
  r.fs = options.fs > 0 ? options.fs : l.cpsc2018 ? 500.0 : 0.0;
  const int64_t n_leads = r.signal.size(0);
  if (!options.leads.empty()) {
    CT_CHECK(static_cast<int64_t>(options.leads.size()) == n_leads, DataError, path, ": ", options.leads.size(),
             " lead names given for ", n_leads, " leads");
    for (const auto& name : options.leads) r.leads.push_back(normalize_lead_name(name));
  } else if (l.cpsc2018 && n_leads == 12) {
    r.leads = standard_12_leads();
  } else {
    for (int64_t i = 0; i < n_leads; ++i) r.leads.push_back("ch" + std::to_string(i));
  }
  // matio hands v4 data over as double, so look at the values for "integer-valued".
  const bool integer =
      is_integer_class(l.var->class_type) ||
      (l.name == "val" && r.signal.numel() > 0 && at::equal(raw.to(at::kDouble).round(), raw.to(at::kDouble)));
  const std::string units = !options.units.empty() ? options.units : integer ? "adu" : "mV";
  r.units.assign(static_cast<size_t>(n_leads), units);
  if (l.cpsc2018) {
    const std::string top = l.name.substr(0, l.name.find('.'));
    for (const char* key : {"sex", "age"}) {
      const matvar_t* f = Mat_VarGetStructFieldByName(l.top.get(), key, 0);
      const std::string v = scalar_text(f, path + ": " + top + "." + key);
      if (!v.empty()) r.meta[key] = v;
    }
  }
  r.meta["format"] = "mat";
  r.meta["variable"] = l.name;
  return r;
}

}  // namespace cardiotorch::io
