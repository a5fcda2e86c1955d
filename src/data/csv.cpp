#include "cardiotorch/data/csv.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cardiotorch/core/error.h"
#include "cardiotorch/core/file.h"
#include "cardiotorch/core/strings.h"

namespace cardiotorch::data {

int CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

size_t CsvTable::require_column(const std::string& name) const {
  const int c = column(name);
  CT_CHECK(c >= 0, DataError, source, ": missing column '", name, "'", did_you_mean(name, header),
           " (columns: ", join(header), ")");
  return static_cast<size_t>(c);
}

const std::string& CsvTable::at(size_t r, const std::string& name) const {
  CT_INTERNAL_ASSERT(r < rows.size(), "row ", r);
  return rows[r][require_column(name)];
}

std::string CsvTable::where(size_t r) const { return str_cat(source, ":", r < row_lines.size() ? row_lines[r] : 0); }

CsvTable parse_csv(const std::string& text, const std::string& origin, const CsvOptions& options) {
  CsvTable t;
  t.source = origin;
  size_t i = 0;
  const size_t n = text.size();
  if (n >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF)
    i = 3;
  int64_t line = 1;
  const char d = options.delimiter;

  std::vector<std::vector<std::string>> records;
  std::vector<int64_t> lines;
  std::vector<std::string> rec;
  std::string field;
  while (i < n) {
    const int64_t rec_line = line;
    rec.clear();
    // One record: fields separated by d, ended by \n, \r\n or end of text.
    bool end_of_record = false;
    while (!end_of_record) {
      field.clear();
      if (i < n && text[i] == '"') {
        const int64_t quote_line = line;
        ++i;
        bool closed = false;
        while (i < n) {
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
          ++i;
        }
        CT_CHECK(closed, DataError, origin, ":", quote_line, ": unterminated quoted field (no closing '\"')");
        CT_CHECK(i >= n || text[i] == d || text[i] == '\n' || text[i] == '\r', DataError, origin, ":", line,
                 ": unexpected character '", text[i], "' after a closing quote (expected '", d, "' or end of line)");
      } else {
        while (i < n && text[i] != d && text[i] != '\n' && text[i] != '\r') field.push_back(text[i++]);
        CT_CHECK(field.find('"') == std::string::npos, DataError, origin, ":", line,
                 ": a quote inside an unquoted field (quote the whole field and double inner quotes)");
      }
      rec.push_back(field);
      if (i >= n) {
        end_of_record = true;
      } else if (text[i] == d) {
        ++i;
        if (i >= n) rec.emplace_back();  // "a,b," at EOF: trailing empty field
      } else {
        if (text[i] == '\r') ++i;
        if (i < n && text[i] == '\n') ++i;
        ++line;
        end_of_record = true;
      }
    }
    // Blank lines (a single empty field) are not records.
    if (rec.size() == 1 && rec[0].empty()) continue;
    records.push_back(rec);
    lines.push_back(rec_line);
  }

  size_t first = 0;
  if (options.header) {
    CT_CHECK(!records.empty(), DataError, origin, ": empty file (expected a header line)");
    t.header = records[0];
    first = 1;
  }
  const size_t width = options.header ? t.header.size() : (records.empty() ? 0 : records[0].size());
  for (size_t r = first; r < records.size(); ++r) {
    auto& row = records[r];
    if (row.size() != width) {
      CT_CHECK(options.allow_ragged, DataError, origin, ":", lines[r], ": expected ", width, " fields, got ",
               row.size());
      row.resize(width);
    }
    t.rows.push_back(std::move(row));
    t.row_lines.push_back(lines[r]);
  }
  return t;
}

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  return parse_csv(read_file(path), path, options);
}

std::map<std::string, double> parse_python_dict(const std::string& text, const std::string& where) {
  std::map<std::string, double> out;
  size_t i = 0;
  const size_t n = text.size();
  auto skip_ws = [&] {
    while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  auto fail = [&](const std::string& what) {
    throw DataError(str_cat(where, ": ", what, " at offset ", i, " in dict literal '", text, "'"));
  };
  skip_ws();
  if (i >= n || text[i] != '{') fail("expected '{'");
  ++i;
  skip_ws();
  if (i < n && text[i] == '}') return out;
  while (true) {
    skip_ws();
    if (i >= n || (text[i] != '\'' && text[i] != '"')) fail("expected a quoted key");
    const char q = text[i++];
    std::string key;
    while (i < n && text[i] != q) key.push_back(text[i++]);
    if (i >= n) fail("unterminated key");
    ++i;
    skip_ws();
    if (i >= n || text[i] != ':') fail("expected ':'");
    ++i;
    skip_ws();
    const char* begin = text.c_str() + i;
    char* end = nullptr;
    const double v = std::strtod(begin, &end);
    if (end == begin) fail("expected a number");
    i += static_cast<size_t>(end - begin);
    out[key] = v;
    skip_ws();
    if (i < n && text[i] == ',') {
      ++i;
      skip_ws();
      if (i < n && text[i] == '}') break;  // trailing comma
      continue;
    }
    if (i < n && text[i] == '}') break;
    fail("expected ',' or '}'");
  }
  ++i;
  skip_ws();
  if (i != n) fail("unexpected text after '}'");
  return out;
}

}  // namespace cardiotorch::data
