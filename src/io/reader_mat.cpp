// MATLAB .mat files as a RecordReader (CinC layouts with a WFDB header beside them, CPSC 2018
// structs, bare matrices; see mat.h).
#include <filesystem>

#include "cardiotorch/io/mat.h"
#include "cardiotorch/io/reader.h"
#include "cardiotorch/io/wfdb.h"
#include "io/reader_util.h"

namespace fs = std::filesystem;

namespace cardiotorch::io {
namespace {

std::string header_beside(const std::string& path) {
  return (fs::path(path).parent_path() / fs::path(path).stem()).string() + ".hea";
}

bool exists_file(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

class MatReader : public RecordReader {
 public:
  std::vector<std::string> extensions() const override { return {".mat"}; }
  bool sniff(const std::string&, const std::string& head) const override {
    return head.compare(0, 10, "MATLAB 5.0") == 0 || head.compare(0, 10, "MATLAB 7.3") == 0;
  }
  // A CinC .mat is listed once, as the .hea beside it.
  bool lists(const std::string& file) const override { return !exists_file(header_beside(file)); }
  Record read(const std::string& path, const ReadOptions& options) const override {
    MatOptions mo;
    mo.fs = options.fs;
    mo.variable = options.variable;
    Record r = read_mat_record(path, mo);
    apply_window_and_channels(r, options);
    return r;
  }
  RecordInfo info(const std::string& path) const override {
    const std::string hea = header_beside(path);
    if (!exists_file(hea)) return RecordReader::info(path);
    RecordInfo info = info_from_wfdb_header(path, wfdb::read_header(hea), "mat+wfdb");
    info.path = path;
    return info;
  }
};

}  // namespace

CT_REGISTER(reader_registry(), "mat", make_reader<MatReader>,
            "MATLAB .mat v4/v5/v7.3 (CinC with a .hea beside, CPSC 2018 structs, bare matrices)")

}  // namespace cardiotorch::io
