#pragma once
// Dataset adapters for the public ECG databases (each also registered in dataset_registry()
// under the name in its comment). Option structs include CommonOptions' fields
// (root, fs, leads, on_error, limit); unknown keys are ConfigErrors.
#include <memory>
#include <string>
#include <vector>

#include "cardiotorch/data/dataset.h"

namespace cardiotorch::data {

/// "cinc2017": PhysioNet/CinC 2017 AF challenge. REFERENCE.csv rows "A00001,N"; class index
/// over {N, A, O, ~}; single lead, 300 Hz.
struct Cinc2017Options : CommonOptions {
  std::string reference = "REFERENCE.csv";  ///< or REFERENCE-original.csv (the first release)
  template <class V>
  void fields(V& v) {
    CommonOptions::fields(v);
    v("reference", reference, "label file in root (REFERENCE.csv = v3 labels)");
  }
};
std::shared_ptr<Dataset> make_cinc2017(const Cinc2017Options& o);

/// "cinc2020" / "cinc2021": PhysioNet/CinC 2020/2021 12-lead challenge layouts: every
/// <record>.hea in root (sorted), SNOMED-CT codes in the "#Dx:" comment, age/sex comments.
/// Multi-hot labels over the challenge's scored classes (weights.csv columns; codes joined
/// with '|' there are one class) with `equivalent` code groups merged into one class.
struct CincOptions : CommonOptions {
  std::string classes = "scored";  ///< scored (weights.csv) | all (every code seen in the headers)
  /// Codes scored as the same diagnosis (the challenges' equivalence classes).
  std::vector<std::vector<std::string>> equivalent = {
      {"713427006", "59118001"}, {"284470004", "63593006"}, {"427172004", "17338001"}};
  bool require_labels = false;  ///< records without any class are errors (skipped with on_error: skip)
  /// Correct the two known header gain errors of the 2020 release (PTB-XL "HR" records say
  /// 200/mV, PTB "S" records 2000000/mV; both hold 1000 adu/mV values).
  bool fix_gains = true;
  /// CPSC 2018 label table in root (Recording,First_label,Second_label,Third_label; codes 1-9),
  /// used for records whose "#Dx:" is empty, e.g. cpsc2018_REFERENCE_subset.csv. Codes map to
  /// SNOMED as in the 2020 release: 1 426783006, 2 164889003, 3 270492004, 4 164909002,
  /// 5 59118001, 6 284470004, 7 164884008, 8 429622005, 9 164931005.
  std::string cpsc_reference;
  template <class V>
  void fields(V& v) {
    CommonOptions::fields(v);
    v("classes", classes, "scored | all");
    v("cpsc_reference", cpsc_reference, "CPSC 2018 label CSV in root for records with an empty #Dx");
    v("equivalent", equivalent, "groups of SNOMED codes treated as one class");
    v("require_labels", require_labels, "records without a class are errors");
    v("fix_gains", fix_gains, "fix the known wrong gains of 2020 HR/S headers");
  }
  void validate() const;
};
std::shared_ptr<Dataset> make_cinc(const CincOptions& o, const std::string& name);

/// "ptbxl": PTB-XL (ptbxl_database.csv + scp_statements.csv). Multi-hot labels over the chosen
/// statement set; fold = strat_fold; text = report; 100 Hz (records100) or 500 Hz (records500).
struct PtbxlOptions : CommonOptions {
  /// superclass (NORM/MI/STTC/CD/HYP) | subclass | diagnostic | form | rhythm | all
  std::string labels = "superclass";
  double min_likelihood = 0.0;  ///< keep statements with likelihood >= this (PTB-XL benchmarks use 0)
  template <class V>
  void fields(V& v) {
    CommonOptions::fields(v);
    v("labels", labels, "superclass | subclass | diagnostic | form | rhythm | all");
    v("min_likelihood", min_likelihood, "minimum SCP statement likelihood (0-100)");
  }
  void validate() const;
};
std::shared_ptr<Dataset> make_ptbxl(const PtbxlOptions& o);

/// "mitdb": MIT-BIH Arrhythmia beats: one item per annotated beat, a window of
/// [-before, +after) seconds around its R peak, class index over AAMI {N, S, V, F, Q}.
/// fold = "DS1" / "DS2" (de Chazal 2004 inter-patient lists) or "" (paced records);
/// meta: symbol, sample, rhythm (the '+' annotation aux in force, e.g. "(AFIB").
struct MitdbOptions : CommonOptions {
  double before = 0.25;              ///< seconds before the R peak
  double after = 0.45;               ///< seconds after the R peak
  std::vector<std::string> records;  ///< record names, or "DS1" / "DS2"; empty = every record in root
  bool exclude_paced = true;         ///< drop 102, 104, 107, 217 (AAMI practice)
  std::string annotator = "atr";
  /// Appends four constant channels: RR_pre, RR_post (each over the local mean RR), RR_local
  /// (seconds) and RR_irregularity (median successive RR difference over the local mean): the
  /// rhythm context a single-beat window lacks and SVEB detection rests on (de Chazal 2004's RR
  /// features), and what tells atrial fibrillation's irregular N beats from premature S beats.
  /// Normalise only the ECG leads (groupwise_zscore groups [[0, n]]).
  bool rr_features = false;
  int64_t rr_window = 10;  ///< beats on each side averaged into the local RR
  /// Intervals on each side the RR_irregularity channel reads ([] = rr_window's span); each
  /// further span appends a channel RR_irregularity_<span>. Atrial fibrillation is told from a
  /// run of ectopic beats over a longer span than the local rhythm's.
  std::vector<int64_t> rr_irregularity_windows;
  /// 1: RR_irregularity reads successive differences |RR[k+1] - RR[k]|; L > 1: the smallest
  /// difference to any of the next L intervals, so a repeating pattern of ectopic beats
  /// (bigeminy at lag 2, trigeminy at 3) reads as regular while fibrillation stays irregular.
  /// Each further L appends, for every span, a channel <name>_lag<L> (e.g. [1, 3]: fibrillation
  /// is irregular at both, bigeminy only at lag 1, a regular rhythm at neither). A scalar is a
  /// list of one, as checkpoints before the list form stored it.
  std::vector<int64_t> rr_irregularity_lags{1};
  /// With rr_features, seconds > 0 append three more channels: RR_pre, RR_post and RR_local over
  /// the reference RR, the average RR within +-rr_reference s of the beat (de Chazal's 5-minute
  /// average RR). A run of supraventricular tachycardia is premature against the patient's usual
  /// rhythm but not against its own local mean; 0 = not appended.
  double rr_reference = 0;
  /// "median" (not moved by ectopic beats, pauses or a tachycardia run shorter than half the
  /// span; but where ectopic intervals are the majority it is the ectopic rhythm's RR), "mean"
  /// (de Chazal's), or a percentile "p75": premature beats shorten intervals, so the patient's
  /// own rhythm sits in the upper part of the distribution, and a high percentile stays there
  /// while ectopic intervals are fewer than 1 - q of them. In a 5-fold patient cross-validation
  /// within DS1 the median found 70-72 % of the S beats against the mean's 45-53 % (two seeds;
  /// 209's tachycardia runs pull the mean).
  std::string rr_reference_average = "median";
  /// Appends, after the ECG leads, each lead minus the record's median beat (the median over
  /// all its beat windows): a patient's own normal morphology subtracted, so what is left is
  /// how this beat differs from that patient's usual beat, which carries over to unseen patients.
  bool template_diff = false;
  template <class V>
  void fields(V& v) {
    CommonOptions::fields(v);
    v("before", before, "window start before the R peak, seconds");
    v("after", after, "window end after the R peak, seconds");
    v("records", records, "record names or DS1/DS2 (empty = all in root)");
    v("exclude_paced", exclude_paced, "drop the paced records 102 104 107 217");
    v("annotator", annotator, "annotation file extension");
    v("rr_features", rr_features,
      "append channels RR_pre/RR_local, RR_post/RR_local, RR_local (s) and RR_irregularity, constant over the window");
    v("rr_window", rr_window, "beats on each side averaged into RR_local");
    v("rr_irregularity_windows", rr_irregularity_windows,
      "intervals on each side RR_irregularity reads ([] = rr_window); more spans append RR_irregularity_<span>");
    v("rr_irregularity_lags", rr_irregularity_lags,
      "RR_irregularity's differences: the smallest to the next L intervals (1 = successive; 3 reads bigeminy and "
      "trigeminy as regular); more Ls append RR_irregularity*_lag<L>");
    v("rr_reference", rr_reference,
      "seconds each side for the reference RR; > 0 appends RR_pre/RR_ref, RR_post/RR_ref and RR_local/RR_ref "
      "(needs rr_features; 0 = off)");
    v("rr_reference_average", rr_reference_average,
      "median, mean or a percentile p1..p99 (p75): how the span's intervals make the reference RR");
    v("template_diff", template_diff,
      "append each lead minus the record's median beat (channels '<lead>-median'), before the RR channels");
  }
  void validate() const;
};
std::shared_ptr<Dataset> make_mitdb(const MitdbOptions& o);
/// de Chazal et al. 2004 inter-patient splits (paced records excluded).
const std::vector<std::string>& mitdb_ds1();
const std::vector<std::string>& mitdb_ds2();
/// AAMI class index (0..4 = N S V F Q, see io::aami_class) of a beat symbol, or -1 when unmapped.
int aami_index(const std::string& symbol);
/// The RR context of each beat of `peaks` (ascending samples at `fs`): the channels
/// MitdbOptions::rr_features appends, {RR_pre / RR_local, RR_post / RR_local, RR_local (s),
/// RR_irregularity}, RR_local over `rr_window` intervals on each side, RR_irregularity the
/// median successive difference over the mean interval within each of `rr_irregularity_windows`
/// (default rr_window's span), one channel per span and `rr_irregularity_lags` entry (spans
/// outer; mitdb_rr_channels names them); with
/// `rr_reference` > 0 also {RR_pre, RR_post, RR_local} over the reference RR of the intervals
/// ending within +-rr_reference seconds: their quantile (mitdb_reference_quantile; the element
/// of rank floor(q n)) or their mean. Shared by the adapter and `predict` (which reads the
/// options from the checkpoint's config), so a beat model sees the same inputs on new records.
/// Empty without rr_features or for fewer than 2 beats.
std::vector<std::vector<double>> mitdb_rr_context(const std::vector<int64_t>& peaks, double fs, const MitdbOptions& o);
/// rr_reference_average as mitdb_rr_context's quantile: mean -1, median 0.5, "p75" 0.75;
/// ConfigError for anything else.
double mitdb_reference_quantile(const std::string& average);
/// The names of the channels mitdb_rr_context gives (none without rr_features).
std::vector<std::string> mitdb_rr_channels(const MitdbOptions& o);
/// The median over the beat windows [p - before, p - before + width) of `signal` [leads, n]
/// (zero-padded past the ends): the record template MitdbOptions::template_diff subtracts.
at::Tensor mitdb_median_beat(const at::Tensor& signal, const std::vector<int64_t>& peaks, int64_t before,
                             int64_t width);
/// A beat window [leads, width] with the context channels appended in the adapter's order: each
/// lead minus `median` (when defined), then the RR channels (when `rr` is given).
at::Tensor mitdb_with_context(const at::Tensor& window, const at::Tensor& median, const std::vector<double>* rr);

/// "ludb": Lobachevsky University DB. Label: float32 [3, samples] masks (P, QRS, T) from the
/// per-lead delineation files ('(' onset, peak p/N/t, ')' offset; inclusive); `mask_lead`
/// picks the lead whose annotation is used ("all" = union over the 12 leads). label_counts
/// are numbers of delineated waves. text = the header's diagnosis comments; meta: age, sex.
/// LUDB's cardiologists delineated every record from its first to its last complete cycle
/// (about 1.3 s are left unannotated at each end, waves included), so by default the samples
/// before the first annotated boundary and after the last one are labelled -1 in every mask
/// channel: the segmentation loss skips them and the delineation metric does not count
/// detections there (`unannotated: background` labels them 0, as older tools did).
struct LudbOptions : CommonOptions {
  std::string mask_lead = "ii";        ///< annotation file extension (i, ii, ..., v6) or "all"
  std::string unannotated = "ignore";  ///< ignore (label -1) | background (label 0)
  template <class V>
  void fields(V& v) {
    CommonOptions::fields(v);
    v("mask_lead", mask_lead, "lead whose delineation makes the masks (i..v6, or all)");
    v("unannotated", unannotated,
      "samples outside the annotated span: ignore (label -1, not trained on or scored) or background (label 0)");
  }
  void validate() const;
};
std::shared_ptr<Dataset> make_ludb(const LudbOptions& o);

/// "folder": a manifest CSV with columns path,label[,patient_id] (paths relative to root), or,
/// without a manifest, one sub-directory per class holding records (.hea/.mat/.edf/.npy).
/// Class index over the sorted labels (or `classes` in that order).
struct FolderOptions : CommonOptions {
  std::string manifest;              ///< CSV file in root; "" = class sub-directories
  std::vector<std::string> classes;  ///< class order; empty = sorted distinct labels
  template <class V>
  void fields(V& v) {
    CommonOptions::fields(v);
    v("manifest", manifest, "CSV path,label[,patient_id] relative to root (empty = class folders)");
    v("classes", classes, "class names in index order (empty = sorted labels)");
  }
};
std::shared_ptr<Dataset> make_folder(const FolderOptions& o);

}  // namespace cardiotorch::data
