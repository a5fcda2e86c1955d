#include "cardiotorch/weights/save.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <ostream>
#include <unordered_set>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/runtime.h"
#include "cardiotorch/core/strings.h"
#include "cardiotorch/weights/pickle.h"
#include "cardiotorch/weights/safetensors_format.h"
#include "io/zip.h"
#include "weights/internal.h"

namespace cardiotorch::weights {
namespace {

void check_unique(const NamedTensors& tensors, const std::string& path) {
  std::unordered_set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    CT_CHECK(seen.insert(name).second, ConfigError, path, ": tensor name '", name, "' given twice");
    CT_CHECK(t.defined(), ConfigError, path, ": tensor '", name, "' is undefined");
  }
}

// A contiguous CPU copy only where needed; written as it is produced, so at most one extra
// tensor is alive at a time.
at::Tensor host_contiguous(const at::Tensor& t) { return t.detach().to(at::kCPU).contiguous(); }

void write_bytes(std::ostream& out, const at::Tensor& c, const std::string& path) {
  const char* p = static_cast<const char*>(c.data_ptr());
  uint64_t left = static_cast<uint64_t>(c.numel()) * c.element_size();
  while (left > 0) {
    const uint64_t chunk = std::min<uint64_t>(left, uint64_t{1} << 30);
    out.write(p, static_cast<std::streamsize>(chunk));
    CT_CHECK(out.good(), Error, path, ": write failed (disk full?)");
    p += chunk;
    left -= chunk;
  }
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::vector<std::pair<std::string, std::string>>& metadata) {
  check_unique(tensors, path);
  std::vector<safetensors::TensorEntry> entries;
  uint64_t at = 0;
  for (const auto& [name, t] : tensors) {
    safetensors::TensorEntry e;
    e.name = name;
    e.dtype = dtype_name(t.scalar_type());
    CT_CHECK(!safetensors::dtype_to_safetensors(e.dtype).empty(), ConfigError, path, ": tensor '", name, "' of dtype ",
             e.dtype, " cannot be stored in safetensors");
    e.shape = t.sizes().vec();
    e.begin = at;
    at += static_cast<uint64_t>(t.numel()) * t.element_size();
    e.end = at;
    entries.push_back(std::move(e));
  }
  const std::string header = safetensors::format_header(entries, metadata);
  detail::write_atomically(path, [&](std::ostream& out) {
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& [name, t] : tensors) write_bytes(out, host_contiguous(t), path);
  });
}

void save_torch(const std::string& path, const NamedTensors& tensors, const TorchSaveOptions& options) {
  check_unique(tensors, path);
  std::vector<pickle::TensorRecord> records;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i].second;
    pickle::TensorRecord r;
    r.name = tensors[i].first;
    r.dtype = dtype_name(t.scalar_type());
    r.sizes = t.sizes().vec();
    r.strides.assign(r.sizes.size(), 1);
    for (size_t d = r.sizes.size(); d-- > 1;) r.strides[d - 1] = r.strides[d] * std::max<int64_t>(1, r.sizes[d]);
    r.storage_key = std::to_string(i);
    r.storage_numel = static_cast<uint64_t>(t.numel());
    records.push_back(std::move(r));
  }
  const std::string pkl = pickle::write_state_dict(records);  // validates the dtypes first
  detail::write_atomically(path, [&](std::ostream& out) {
    io::zip::StreamWriter zip(out, path, options.force_zip64);
    zip.add("archive/data.pkl", pkl.data(), pkl.size());
    zip.add("archive/byteorder", "little", 6);
    for (size_t i = 0; i < tensors.size(); ++i) {
      const at::Tensor c = host_contiguous(tensors[i].second);
      zip.add("archive/data/" + std::to_string(i), c.data_ptr(), static_cast<uint64_t>(c.numel()) * c.element_size(),
              64);
    }
    zip.add("archive/version", "3\n", 2);
    zip.finish();
  });
}

void save_state_dict(const std::string& path, const NamedTensors& tensors) {
  const std::string ext = to_lower(std::filesystem::path(path).extension().string());
  if (ext == ".safetensors") save_safetensors(path, tensors);
  else if (ext == ".pt" || ext == ".pth" || ext == ".bin" || ext == ".ckpt" || ext == ".tar") save_torch(path, tensors);
  else
    throw ConfigError(
        str_cat(path, ": unknown output format '", ext, "' (use .safetensors, or .pt/.pth for a torch.save archive)"));
}

namespace {
const std::vector<std::string>& reserved_keys() {
  static const std::vector<std::string> keys = {
      "format", "format_version", "cardiotorch_version", "torch_version", "config", "registry", "groups"};
  return keys;
}
}  // namespace

void save_checkpoint(const std::string& path, const CheckpointData& data) {
  NamedTensors all;
  std::vector<std::string> group_names;
  for (const auto& [group, tensors] : data.groups) {
    CT_CHECK(!group.empty() && group.find('/') == std::string::npos, ConfigError, path, ": tensor group name '", group,
             "' (must be non-empty and contain no '/')");
    CT_CHECK(std::find(reserved_keys().begin(), reserved_keys().end(), group) == reserved_keys().end() &&
                 !data.sections.count(group),
             ConfigError, path, ": tensor group '", group, "' clashes with a metadata key");
    group_names.push_back(group);
    for (const auto& [name, t] : tensors) {
      // '/' separates a group from its keys in the file, so a model key must not contain one.
      CT_CHECK(group != "model" || name.find('/') == std::string::npos, ConfigError, path, ": model tensor '", name,
               "' contains '/'");
      all.emplace_back(group == "model" ? name : group + "/" + name, t);
    }
  }
  nlohmann::json registry = nlohmann::json::object();
  for (const auto& [role, name] : data.registry) registry[role] = name;
  std::vector<std::pair<std::string, std::string>> meta = {
      {"format", "cardiotorch.checkpoint"},
      {"format_version", std::to_string(kCheckpointFormatVersion)},
      {"cardiotorch_version", version_string()},
      {"torch_version", torch_version_string()},
      {"registry", registry.dump()},
      {"groups", nlohmann::json(group_names).dump()},
  };
  if (!data.config_yaml.empty()) meta.emplace_back("config", data.config_yaml);
  for (const auto& [name, text] : data.sections) {
    CT_CHECK(std::find(reserved_keys().begin(), reserved_keys().end(), name) == reserved_keys().end(), ConfigError,
             path, ": checkpoint section '", name, "' clashes with a reserved key (", join(reserved_keys()), ")");
    detail::parse_json(text, str_cat(path, ": checkpoint section '", name, "'"));
    meta.emplace_back(name, text);
  }
  save_safetensors(path, all, meta);
}

CheckpointData load_checkpoint(const std::string& path) {
  const Checkpoint ck = read_checkpoint(path);
  std::map<std::string, std::string> meta(ck.metadata.begin(), ck.metadata.end());
  CT_CHECK(meta["format"] == "cardiotorch.checkpoint", DataError, path, ": not a cardiotorch checkpoint (", ck.format,
           "); weights::read_checkpoint and load_into read other formats");
  CheckpointData out;
  try {
    out.format_version = std::stoi(meta["format_version"]);
  } catch (const std::exception&) {
    throw DataError(str_cat(path, ": bad format_version '", meta["format_version"], "'"));
  }
  CT_CHECK(out.format_version >= 1 && out.format_version <= kCheckpointFormatVersion, DataError, path,
           ": checkpoint format v", out.format_version, " was written by a newer cardiotorch (",
           meta["cardiotorch_version"], "); this build (", version_string(), ") reads up to v",
           kCheckpointFormatVersion);
  out.library_version = meta["cardiotorch_version"];
  out.torch_version = meta["torch_version"];
  out.config_yaml = meta["config"];
  const nlohmann::json registry = detail::parse_json(meta["registry"].empty() ? "{}" : meta["registry"], path);
  for (auto it = registry.begin(); it != registry.end(); ++it)
    out.registry[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
  for (const auto& [k, v] : meta)
    if (std::find(reserved_keys().begin(), reserved_keys().end(), k) == reserved_keys().end()) out.sections[k] = v;
  const nlohmann::json groups = detail::parse_json(meta["groups"].empty() ? "[]" : meta["groups"], path);
  for (const auto& g : groups) {
    const std::string name = g.is_string() ? g.get<std::string>() : "";
    const PyNode* node = ck.root()->get(name);
    out.groups[name] = node ? flatten_tensors(ck, node) : NamedTensors{};
  }
  return out;
}

}  // namespace cardiotorch::weights
