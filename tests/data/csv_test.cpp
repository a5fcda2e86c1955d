#include "cardiotorch/data/csv.h"

#include <gtest/gtest.h>

#include "cardiotorch/core/error.h"
#include "support/test_util.h"

namespace ct = cardiotorch;
using ct::data::parse_csv;

TEST(DataCsv, PlainRowsWithHeader) {
  auto t = parse_csv("a,b,c\n1,2,3\n4,5,6\n", "t.csv");
  ASSERT_EQ(t.header, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(t.n_rows(), 2u);
  EXPECT_EQ(t.at(1, "b"), "5");
  EXPECT_EQ(t.row_lines, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.column("c"), 2);
  EXPECT_EQ(t.column("z"), -1);
}

TEST(DataCsv, QuotesCommasNewlinesAndEscapedQuotes) {
  const std::string text =
      "id,report,codes\r\n"
      "1,\"sinus rhythm, normal\",\"{'NORM': 100.0, 'SR': 0.0}\"\r\n"
      "2,\"line one\nline two\",\"say \"\"hi\"\"\"\r\n"
      "3,,\"\"\r\n";
  auto t = parse_csv(text, "q.csv");
  ASSERT_EQ(t.n_rows(), 3u);
  EXPECT_EQ(t.at(0, "report"), "sinus rhythm, normal");
  EXPECT_EQ(t.at(0, "codes"), "{'NORM': 100.0, 'SR': 0.0}");
  EXPECT_EQ(t.at(1, "report"), "line one\nline two");
  EXPECT_EQ(t.at(1, "codes"), "say \"hi\"");
  EXPECT_EQ(t.at(2, "report"), "");
  EXPECT_EQ(t.at(2, "codes"), "");
  // The row after an embedded newline starts on line 4.
  EXPECT_EQ(t.row_lines, (std::vector<int64_t>{2, 3, 5}));
}

TEST(DataCsv, BomBlankLinesNoTrailingNewlineAndTrailingEmptyField) {
  auto t = parse_csv("\xEF\xBB\xBFx,y\n\n1,\n2,3", "b.csv");
  ASSERT_EQ(t.header, (std::vector<std::string>{"x", "y"}));
  ASSERT_EQ(t.n_rows(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"1", ""}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"2", "3"}));
}

TEST(DataCsv, HeaderlessAndRagged) {
  ct::data::CsvOptions o;
  o.header = false;
  auto t = parse_csv("A00001,N\nA00002,A\n", "REFERENCE.csv", o);
  ASSERT_EQ(t.n_rows(), 2u);
  EXPECT_EQ(t.rows[1][1], "A");
  EXPECT_THROW(parse_csv("a,b\n1,2,3\n", "r.csv"), ct::DataError);
  o.header = true;
  o.allow_ragged = true;
  auto r = parse_csv("a,b,c\n1\n", "r.csv", o);
  EXPECT_EQ(r.rows[0], (std::vector<std::string>{"1", "", ""}));
}

TEST(DataCsv, ErrorsNameFileAndLine) {
  try {
    parse_csv("a,b\n1,\"open\n2,3\n", "bad.csv");
    FAIL() << "expected DataError";
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("unterminated"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_csv("a,b\n\"x\"y,1\n", "bad.csv"), ct::DataError);
  EXPECT_THROW(parse_csv("a,b\nx\"y,1\n", "bad.csv"), ct::DataError);
  try {
    auto t = parse_csv("a,b\n1,2\n", "m.csv");
    (void)t.at(0, "bb");
    FAIL();
  } catch (const ct::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("missing column 'bb'"), std::string::npos) << e.what();
  }
}

TEST(DataCsv, PythonDictLiteral) {
  auto d = ct::data::parse_python_dict("{'IMI': 35.0, 'ABQRS': 0.0, 'SR': 0.0}", "x");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_DOUBLE_EQ(d["IMI"], 35.0);
  EXPECT_DOUBLE_EQ(d["SR"], 0.0);
  EXPECT_TRUE(ct::data::parse_python_dict("{}", "x").empty());
  EXPECT_THROW(ct::data::parse_python_dict("{'A': }", "x"), ct::DataError);
  EXPECT_THROW(ct::data::parse_python_dict("['A']", "x"), ct::DataError);
  EXPECT_THROW(ct::data::parse_python_dict("{'A': 1} x", "x"), ct::DataError);
}

// PTB-XL's database has quoted dict fields, commas inside quotes and multi-line reports.
TEST(DataCsv, PtbxlDatabaseParsesEveryRow) {
  CT_REQUIRE_SHARED("ptbxl/ptbxl_database.csv");
  auto t = ct::data::read_csv(ct::test::shared_data("ptbxl/ptbxl_database.csv"));
  EXPECT_EQ(t.header.size(), 28u);
  EXPECT_EQ(t.n_rows(), 434u);
  EXPECT_EQ(t.at(0, "ecg_id"), "1");
  EXPECT_EQ(t.at(0, "scp_codes"), "{'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}");
  EXPECT_EQ(t.at(0, "electrodes_problems"), "");
  EXPECT_EQ(t.at(0, "static_noise"), " , I-V1,  ");
  for (size_t r = 0; r < t.n_rows(); ++r)
    EXPECT_NO_THROW(ct::data::parse_python_dict(t.at(r, "scp_codes"), t.where(r)));
}

// LUDB's table has newlines inside quoted fields.
TEST(DataCsv, LudbTableHasOneRowPerRecord) {
  CT_REQUIRE_SHARED("ludb/ludb.csv");
  auto t = ct::data::read_csv(ct::test::shared_data("ludb/ludb.csv"));
  EXPECT_EQ(t.n_rows(), 150u);
  bool any_newline = false;
  for (const auto& row : t.rows)
    for (const auto& f : row) any_newline |= f.find('\n') != std::string::npos;
  EXPECT_TRUE(any_newline);
}
