#include "cardiotorch/weights/safetensors_format.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "cardiotorch/core/error.h"
#include "cardiotorch/weights/pytree.h"

namespace cardiotorch::weights::safetensors {
namespace {

const std::vector<std::pair<std::string, std::string>>& codes() {
  static const std::vector<std::pair<std::string, std::string>> table = {
      {"F64", "float64"},        {"F32", "float32"},   {"F16", "float16"},
      {"BF16", "bfloat16"},      {"I64", "int64"},     {"I32", "int32"},
      {"I16", "int16"},          {"I8", "int8"},       {"U8", "uint8"},
      {"BOOL", "bool"},          {"U16", "uint16"},    {"U32", "uint32"},
      {"U64", "uint64"},         {"C64", "complex64"}, {"F8_E4M3", "float8_e4m3fn"},
      {"F8_E5M2", "float8_e5m2"}};
  return table;
}

// JSON string literal; invalid UTF-8 is replaced rather than thrown on (names come from files).
std::string dump_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string dtype_from_safetensors(const std::string& code) {
  for (const auto& [c, d] : codes())
    if (c == code) return d;
  return "";
}

std::string dtype_to_safetensors(const std::string& dtype) {
  for (const auto& [c, d] : codes())
    if (d == dtype) return c;
  return "";
}

uint64_t header_length(const char* first8, uint64_t file_size, const std::string& origin) {
  CT_CHECK(file_size >= 8, DataError, origin, ": not a safetensors file (", file_size,
           " bytes, the header length alone takes 8)");
  uint64_t n = 0;
  for (int b = 0; b < 8; ++b) n |= static_cast<uint64_t>(static_cast<unsigned char>(first8[b])) << (8 * b);
  CT_CHECK(n <= kMaxHeaderBytes, DataError, origin, ": safetensors header of ", n, " bytes (the format allows at most ",
           kMaxHeaderBytes, "; corrupt file?)");
  CT_CHECK(n <= file_size - 8, DataError, origin, ": truncated safetensors file (header of ", n,
           " bytes, the file has ", file_size, ")");
  return n;
}

Header parse_header(const char* json, uint64_t n, uint64_t file_size, const std::string& origin) {
  CT_CHECK(n >= 2 && n <= file_size - 8, DataError, origin, ": safetensors header of ", n, " bytes in a ", file_size,
           "-byte file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json, json + n);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(str_cat(origin, ": safetensors header is not valid JSON (", e.what(), ")"));
  }
  CT_CHECK(j.is_object(), DataError, origin, ": safetensors header is not a JSON object");
  Header h;
  h.data_start = 8 + n;
  const uint64_t data_len = file_size - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      CT_CHECK(v.is_object() || v.is_null(), DataError, origin, ": safetensors __metadata__ is not an object");
      if (v.is_object())
        for (auto m = v.begin(); m != v.end(); ++m)
          h.metadata.emplace_back(m.key(), m.value().is_string() ? m.value().get<std::string>() : m.value().dump());
      continue;
    }
    const std::string where = str_cat(origin, ": tensor '", name, "'");
    CT_CHECK(v.is_object(), DataError, where, ": header entry is not an object");
    CT_CHECK(v.contains("dtype") && v["dtype"].is_string(), DataError, where, ": no dtype");
    CT_CHECK(v.contains("shape") && v["shape"].is_array(), DataError, where, ": no shape");
    CT_CHECK(v.contains("data_offsets") && v["data_offsets"].is_array() && v["data_offsets"].size() == 2 &&
                 v["data_offsets"][0].is_number_unsigned() && v["data_offsets"][1].is_number_unsigned(),
             DataError, where, ": data_offsets must be two non-negative integers");
    TensorEntry t;
    t.name = name;
    const std::string code = v["dtype"].get<std::string>();
    t.dtype = dtype_from_safetensors(code);
    CT_CHECK(!t.dtype.empty(), DataError, where, ": unsupported dtype '", code.substr(0, 20), "'");
    CT_CHECK(v["shape"].size() <= 64, DataError, where, ": ", v["shape"].size(), " dimensions");
    using u128 = unsigned __int128;
    u128 numel = 1;
    for (const auto& d : v["shape"]) {
      CT_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), DataError, where,
               ": shape entries must be non-negative integers");
      const uint64_t s = d.get<uint64_t>();
      CT_CHECK(s < (uint64_t{1} << 62), DataError, where, ": dimension of ", s);
      t.shape.push_back(static_cast<int64_t>(s));
      numel *= s;
      CT_CHECK(numel <= (u128{1} << 62), DataError, where, ": more than 2^62 elements");
    }
    t.begin = v["data_offsets"][0].get<uint64_t>();
    t.end = v["data_offsets"][1].get<uint64_t>();
    CT_CHECK(t.begin <= t.end, DataError, where, ": data_offsets [", t.begin, ", ", t.end, "] run backwards");
    const u128 nbytes = numel * dtype_itemsize(t.dtype);
    CT_CHECK(nbytes == static_cast<u128>(t.end - t.begin), DataError, where, ": ", t.end - t.begin,
             " bytes of data for ", static_cast<uint64_t>(numel), " ", t.dtype, " elements (",
             static_cast<uint64_t>(nbytes), " expected)");
    CT_CHECK(t.end <= data_len, DataError, where, ": data [", t.begin, ", ", t.end, ") runs past the end of the ",
             data_len, "-byte data section (truncated file?)");
    h.tensors.push_back(std::move(t));
  }
  std::stable_sort(h.tensors.begin(), h.tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // The ranges must tile the data section: no overlap (two tensors sharing bytes), no gap.
  uint64_t at = 0;
  for (const TensorEntry& t : h.tensors) {
    CT_CHECK(t.begin == at, DataError, origin, ": tensor '", t.name, "' starts at data byte ", t.begin, ", expected ",
             at, " (safetensors data ranges must not overlap or leave gaps)");
    at = t.end;
  }
  CT_CHECK(at == data_len, DataError, origin, ": ", data_len - at,
           " bytes after the last tensor's data (corrupt file)");
  return h;
}

std::string format_header(const std::vector<TensorEntry>& tensors,
                          const std::vector<std::pair<std::string, std::string>>& metadata) {
  // Written by hand to keep the caller's order (nlohmann's ordered map inserts in quadratic time).
  std::string j = "{";
  bool first = true;
  if (!metadata.empty()) {
    std::map<std::string, std::string> sorted(metadata.begin(), metadata.end());
    j += "\"__metadata__\":{";
    for (const auto& [k, v] : sorted) {
      if (!first) j += ",";
      first = false;
      j += dump_string(k) + ":" + dump_string(v);
    }
    j += "}";
    first = false;
  }
  for (const TensorEntry& t : tensors) {
    const std::string code = dtype_to_safetensors(t.dtype);
    CT_CHECK(!code.empty(), ConfigError, "tensor '", t.name, "': dtype ", t.dtype, " cannot be stored in safetensors");
    if (!first) j += ",";
    first = false;
    j += dump_string(t.name) + ":{\"dtype\":\"" + code + "\",\"shape\":[";
    for (size_t d = 0; d < t.shape.size(); ++d) j += (d ? "," : "") + std::to_string(t.shape[d]);
    j += "],\"data_offsets\":[" + std::to_string(t.begin) + "," + std::to_string(t.end) + "]}";
  }
  j += "}";
  while (j.size() % 8) j += ' ';
  std::string out;
  for (int b = 0; b < 8; ++b) out += static_cast<char>((static_cast<uint64_t>(j.size()) >> (8 * b)) & 0xff);
  return out + j;
}

}  // namespace cardiotorch::weights::safetensors
