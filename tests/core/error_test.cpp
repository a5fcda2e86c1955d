#include "cardiotorch/core/error.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <new>
#include <string>

#include "cardiotorch/core/file.h"
#include "support/test_util.h"

namespace ct = cardiotorch;

namespace {

// Throws `e`, catches it and rethrows it through rethrow_with_context("rec 7: ").
template <class E>
void rethrown(const E& e) {
  try {
    throw e;
  } catch (...) {
    ct::rethrow_with_context("rec 7: ");
  }
}

template <class Want, class E>
void expect_kept(const E& e) {
  try {
    rethrown(e);
    ADD_FAILURE() << "nothing thrown";
  } catch (const Want& got) {
    EXPECT_EQ(typeid(got), typeid(Want)) << "category changed";
    EXPECT_EQ(std::string(got.what()), std::string("rec 7: ") + e.what());
  }
}

}  // namespace

TEST(Errors, RethrowWithContextKeepsEveryCategory) {
  expect_kept<ct::DataError>(ct::DataError("bad header"));
  expect_kept<ct::IoError>(ct::IoError("x.dat: cannot open"));
  expect_kept<ct::ConfigError>(ct::ConfigError("unknown key"));
  expect_kept<ct::UsageError>(ct::UsageError("missing -o"));
  expect_kept<ct::ShapeError>(ct::ShapeError("expected 2-D"));
  expect_kept<ct::IndexError>(ct::IndexError("index 9 out of range"));
  expect_kept<ct::ArgumentError>(ct::ArgumentError("even kernel"));
  expect_kept<ct::InternalError>(ct::InternalError("invariant"));
  expect_kept<ct::Error>(ct::Error("plain"));
}

TEST(Errors, ForeignExceptionsBecomeErrorWithoutBacktrace) {
  try {
    try {
      TORCH_CHECK(false, "sizes do not match");
    } catch (...) {
      ct::rethrow_with_context("cache: record 12: ");
    }
    ADD_FAILURE();
  } catch (const ct::Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("cache: record 12: sizes do not match", 0), 0u) << m;
    EXPECT_EQ(m.find("frame #"), std::string::npos) << "backtrace leaked: " << m;
  }
  try {
    rethrown(std::bad_alloc());
    ADD_FAILURE();
  } catch (const ct::DataError&) {
    ADD_FAILURE() << "a bad_alloc is no data error";
  } catch (const ct::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("rec 7: ", 0), 0u);
  }
}

TEST(Errors, CategoriesSayWhatHappened) {
  // An unreadable file is bad input (code skipping bad records skips it), an internal invariant
  // is not, and neither index nor argument errors are config or shape errors.
  EXPECT_TRUE((std::is_base_of_v<ct::DataError, ct::IoError>));
  EXPECT_FALSE((std::is_base_of_v<ct::DataError, ct::InternalError>));
  EXPECT_FALSE((std::is_base_of_v<ct::ShapeError, ct::IndexError>));
  EXPECT_FALSE((std::is_base_of_v<ct::ConfigError, ct::ArgumentError>));
  try {
    CT_INTERNAL_ASSERT(1 + 1 == 3, "arithmetic");
    ADD_FAILURE();
  } catch (const ct::InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("internal error at "), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("1 + 1 == 3 arithmetic"), std::string::npos);
  }
}

TEST(Files, OneReadHelperWithOneErrorText) {
  const std::string dir = ct::test::make_temp_dir("files");
  ct::write_file(dir + "/a/b.txt", std::string("x\0y", 3));  // creates a/
  EXPECT_EQ(ct::read_file(dir + "/a/b.txt"), std::string("x\0y", 3));
  EXPECT_EQ(ct::read_file_prefix(dir + "/a/b.txt", 2), "x" + std::string(1, '\0'));
  EXPECT_EQ(ct::read_file_prefix(dir + "/none", 2), "");
  try {
    ct::read_file(dir + "/none.txt");
    ADD_FAILURE();
  } catch (const ct::IoError& e) {
    EXPECT_EQ(std::string(e.what()), dir + "/none.txt: cannot open (No such file or directory)");
  }
  try {
    ct::read_file(dir + "/a");
    ADD_FAILURE();
  } catch (const ct::IoError& e) {
    EXPECT_EQ(std::string(e.what()), dir + "/a: cannot open (is a directory, expected a file)");
  }
  EXPECT_THROW(ct::write_file(dir + "/a/b.txt/c", "x"), ct::IoError);  // b.txt is a file, not a directory
}
