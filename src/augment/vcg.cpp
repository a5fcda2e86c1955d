#include "cardiotorch/augment/vcg.h"

#include <array>
#include <cctype>
#include <cmath>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/registry.h"
#include "common.h"

namespace cardiotorch::augment {

namespace {
constexpr double kPi = 3.14159265358979323846;

// Dower's forward transform (Dower, Machado & Osborne, "On deriving the electrocardiogram from
// vectorcardiographic leads", Clin. Cardiol. 3:87-95, 1980), rows I, II, V1..V6, columns X, Y, Z.
constexpr double kDower[8][3] = {
    {0.632, -0.235, 0.059},   // I
    {0.235, 1.066, -0.132},   // II
    {-0.515, 0.157, -0.917},  // V1
    {0.044, 0.164, -1.387},   // V2
    {0.882, 0.098, -1.277},   // V3
    {1.213, 0.127, -0.601},   // V4
    {1.125, 0.127, -0.086},   // V5
    {0.831, 0.076, 0.230},    // V6
};

// Inverse Dower matrix (Edenbrandt & Pahlm, "Vectorcardiogram synthesized from a 12-lead ECG:
// superiority of the inverse Dower matrix", J. Electrocardiol. 21(4):361-367, 1988), published
// with columns V1..V6, I, II; reordered here to I, II, V1..V6. It is not exactly the
// pseudo-inverse of kDower: inverse·Dower differs from the 3x3 identity by up to 6.25e-4.
constexpr double kInverseDower[3][8] = {
    {0.156, -0.010, -0.172, -0.074, 0.122, 0.231, 0.239, 0.194},   // X
    {-0.227, 0.887, 0.057, -0.019, -0.106, -0.022, 0.041, 0.048},  // Y
    {0.022, 0.102, -0.229, -0.310, -0.246, -0.063, 0.055, 0.108},  // Z
};

const std::array<const char*, 12> kStandard12 = {"I",  "II", "III", "aVR", "aVL", "aVF",
                                                 "V1", "V2", "V3",  "V4",  "V5",  "V6"};
const std::array<const char*, 8> kIndependent8 = {"I", "II", "V1", "V2", "V3", "V4", "V5", "V6"};
// Positions of I, II, V1..V6 among the 12 standard leads.
const std::array<int64_t, 8> kIndependentIn12 = {0, 1, 6, 7, 8, 9, 10, 11};

bool same_lead(const std::string& a, const char* b) {
  const std::string bs(b);
  if (a.size() != bs.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(bs[i]))) return false;
  return true;
}

template <size_t N>
bool matches(const std::vector<std::string>& leads, const std::array<const char*, N>& want) {
  if (leads.size() != N) return false;
  for (size_t i = 0; i < N; ++i)
    if (!same_lead(leads[i], want[i])) return false;
  return true;
}

// 3x3 row-major product c = a·b.
void matmul3(const double a[3][3], const double b[3][3], double c[3][3]) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      c[i][j] = 0;
      for (int l = 0; l < 3; ++l) c[i][j] += a[i][l] * b[l][j];
    }
}
}  // namespace

at::Tensor dower_matrix() {
  at::Tensor d = at::empty({8, 3}, at::TensorOptions().dtype(at::kDouble));
  auto a = d.accessor<double, 2>();
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 3; ++j) a[i][j] = kDower[i][j];
  return d;
}

at::Tensor inverse_dower_matrix() {
  at::Tensor d = at::empty({3, 8}, at::TensorOptions().dtype(at::kDouble));
  auto a = d.accessor<double, 2>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 8; ++j) a[i][j] = kInverseDower[i][j];
  return d;
}

at::Tensor dower_matrix_12() {
  at::Tensor d8 = dower_matrix();
  at::Tensor lead1 = d8[0], lead2 = d8[1];
  // III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2.
  return at::cat({d8.narrow(0, 0, 2), (lead2 - lead1).unsqueeze(0), ((lead1 + lead2) * -0.5).unsqueeze(0),
                  (lead1 - lead2 * 0.5).unsqueeze(0), (lead2 - lead1 * 0.5).unsqueeze(0), d8.narrow(0, 2, 6)},
                 0);
}

void Vcg3kgOptions::validate() const {
  check_probability(p, "p");
  CT_CHECK(angle.size() == 1 || angle.size() == 3, ConfigError,
           "angle must have 1 or 3 values (degrees about X, Y, Z), got ", angle.size());
  for (double a : angle)
    CT_CHECK(std::isfinite(a) && a >= 0 && a <= 180, ConfigError, "angle values must be in [0, 180] degrees, got ", a);
  check_range(scale, "scale", 0.0, 1e6);
  CT_CHECK(scale[0] > 0, ConfigError, "scale must be > 0, got [", scale[0], ", ", scale[1], "]");
}

void Vcg3kg::prepare(const SignalBatch& batch) const {
  check_signal(batch.x, name());
  const int64_t leads = batch.x.dim() >= 2 ? batch.x.size(-2) : 1;
  CT_CHECK(leads == 12 || leads == 8, ShapeError,
           "3kg: needs 12 leads (I, II, III, aVR, aVL, aVF, V1..V6) or the 8 independent leads (I, II, V1..V6), got ",
           leads, " lead(s)");
  if (batch.leads.empty()) return;  // unnamed leads: the standard order is assumed
  const bool ok = leads == 12 ? matches(batch.leads, kStandard12) : matches(batch.leads, kIndependent8);
  CT_CHECK(ok, ShapeError, "3kg: leads must be in the standard order ",
           leads == 12 ? "I, II, III, aVR, aVL, aVF, V1..V6" : "I, II, V1..V6", ", got ", join(batch.leads));
}

at::Tensor Vcg3kg::transform(const at::Tensor& x, const SignalBatch&, at::Generator& gen) const {
  const int64_t k = x.size(0), leads = x.size(1);
  std::vector<double> max_angle = options_.angle;
  if (max_angle.size() == 1) max_angle.assign(3, max_angle[0]);
  at::Tensor angles = detail::uniform({k, 3}, -1.0, 1.0, gen);
  at::Tensor scales = detail::uniform({k, options_.per_axis_scale ? 3 : 1}, options_.scale[0], options_.scale[1], gen);
  at::Tensor inv = inverse_dower_matrix();
  at::Tensor fwd = leads == 12 ? dower_matrix_12() : dower_matrix();
  // Per slice: lead mixing matrix fwd · S · Rz·Ry·Rx · inv, (k, leads, 8).
  at::Tensor sr = at::empty({k, 3, 3}, at::TensorOptions().dtype(at::kDouble));
  auto an = angles.accessor<double, 2>();
  auto sc = scales.accessor<double, 2>();
  auto m = sr.accessor<double, 3>();
  for (int64_t i = 0; i < k; ++i) {
    const double ax = an[i][0] * max_angle[0] * kPi / 180, ay = an[i][1] * max_angle[1] * kPi / 180,
                 az = an[i][2] * max_angle[2] * kPi / 180;
    const double rx[3][3] = {{1, 0, 0}, {0, std::cos(ax), -std::sin(ax)}, {0, std::sin(ax), std::cos(ax)}};
    const double ry[3][3] = {{std::cos(ay), 0, std::sin(ay)}, {0, 1, 0}, {-std::sin(ay), 0, std::cos(ay)}};
    const double rz[3][3] = {{std::cos(az), -std::sin(az), 0}, {std::sin(az), std::cos(az), 0}, {0, 0, 1}};
    double zy[3][3], r[3][3];
    matmul3(rz, ry, zy);
    matmul3(zy, rx, r);
    for (int a = 0; a < 3; ++a) {
      const double s = sc[i][options_.per_axis_scale ? a : 0];
      for (int b = 0; b < 3; ++b) m[i][a][b] = s * r[a][b];
    }
  }
  at::Tensor mix = at::matmul(at::matmul(fwd, sr), inv);  // (k, leads, 8)
  at::Tensor independent =
      leads == 12
          ? x.index_select(
                1, at::tensor(std::vector<int64_t>(kIndependentIn12.begin(), kIndependentIn12.end())).to(x.device()))
          : x;
  return at::bmm(detail::like(mix, x), independent);
}

CT_REGISTER(signal::augmenter_registry(), "3kg", (make_from_options<Vcg3kg, Vcg3kgOptions>),
            "3KG: random rotation and scaling in VCG space via the (inverse) Dower transform");

}  // namespace cardiotorch::augment
