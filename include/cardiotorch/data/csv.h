#pragma once
// RFC 4180 CSV reading (no torch): quoted fields with "" escapes, commas and newlines inside
// quotes, CRLF or LF line ends, an optional UTF-8 BOM. Label tables of every dataset use it
// (PTB-XL's ptbxl_database.csv has quoted dicts, LUDB's ludb.csv embedded newlines).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cardiotorch::data {

struct CsvOptions {
  char delimiter = ',';
  bool header = true;         ///< first record names the columns
  bool allow_ragged = false;  ///< rows may have fewer/more fields than the header (missing = "")
};

class CsvTable {
 public:
  std::string source;                          ///< file name (for messages)
  std::vector<std::string> header;             ///< column names (empty without a header)
  std::vector<std::vector<std::string>> rows;  ///< every row has header.size() fields (padded when ragged)
  std::vector<int64_t> row_lines;              ///< 1-based line where each row starts

  size_t n_rows() const { return rows.size(); }
  /// Column index or -1.
  int column(const std::string& name) const;
  /// Column index; DataError "file: missing column 'x' (columns: ...)" when absent.
  size_t require_column(const std::string& name) const;
  /// Field of row r in the named column (DataError when the column is missing).
  const std::string& at(size_t r, const std::string& name) const;
  /// "file:line" of row r, the prefix for messages about that row.
  std::string where(size_t r) const;
};

/// Parses CSV text; errors (unterminated quote, text after a closing quote, ragged rows)
/// are DataErrors "origin:line: ...".
CsvTable parse_csv(const std::string& text, const std::string& origin = "<csv>", const CsvOptions& options = {});
/// Reads and parses a file (DataError when it cannot be read).
CsvTable read_csv(const std::string& path, const CsvOptions& options = {});

/// Parses a Python dict literal of string keys to numbers, as in PTB-XL's scp_codes column:
/// "{'NORM': 100.0, 'SR': 0.0}" -> {NORM: 100, SR: 0}. DataError (prefixed by `where`) otherwise.
std::map<std::string, double> parse_python_dict(const std::string& text, const std::string& where);

}  // namespace cardiotorch::data
