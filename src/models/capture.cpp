#include "cardiotorch/models/capture.h"

#include <algorithm>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::models {
namespace {
thread_local CaptureSession* t_session = nullptr;
}  // namespace

at::Tensor capture(const at::Tensor& x, const char* name) {
  if (t_session != nullptr) t_session->offer(name, x);
  return x;
}

at::Tensor capture(const at::Tensor& x, const std::string& name) {
  if (t_session != nullptr) t_session->offer(name, x);
  return x;
}

bool capture_active() { return t_session != nullptr; }

CaptureScope::CaptureScope(std::string prefix) {
  if (t_session == nullptr) return;
  auto& p = t_session->prefixes();
  p.push_back(p.empty() ? std::move(prefix) : p.back() + "." + prefix);
  active_ = true;
}

CaptureScope::~CaptureScope() {
  // The session outlives its scopes when both are stack objects of the same frame order.
  if (active_ && t_session != nullptr && !t_session->prefixes().empty()) t_session->prefixes().pop_back();
}

CaptureSession::CaptureSession(std::vector<std::string> names) : wanted_(std::move(names)), outer_(t_session) {
  t_session = this;
}

CaptureSession::~CaptureSession() { t_session = outer_; }

void CaptureSession::offer(const std::string& name, const at::Tensor& x) {
  const std::string full = prefixes_.empty() ? name : prefixes_.back() + "." + name;
  if (std::find(seen_.begin(), seen_.end(), full) == seen_.end()) seen_.push_back(full);
  if (!wanted_.empty() && std::find(wanted_.begin(), wanted_.end(), full) == wanted_.end()) return;
  recorded_.emplace_back(full, x);
}

bool CaptureSession::has(const std::string& name) const {
  return std::any_of(recorded_.begin(), recorded_.end(), [&](const auto& r) { return r.first == name; });
}

at::Tensor CaptureSession::get(const std::string& name, const std::string& model) const {
  for (auto it = recorded_.rbegin(); it != recorded_.rend(); ++it)
    if (it->first == name) return it->second;
  CT_CHECK(std::find(seen_.begin(), seen_.end(), name) == seen_.end(), ConfigError, model, ": layer '", name,
           "' was offered but not recorded (this session records ", join(wanted_), ")");
  CT_CHECK(!seen_.empty(), ConfigError, model, " offers no capture points (its forward calls no models::capture()), ",
           "so layer '", name, "' cannot be hooked; see docs/saliency.md");
  throw ConfigError(
      str_cat(model, " has no layer '", name, "'", did_you_mean(name, seen_), "; layers it offers: ", join(seen_)));
}

void CaptureSession::clear() {
  seen_.clear();
  recorded_.clear();
}

}  // namespace cardiotorch::models
