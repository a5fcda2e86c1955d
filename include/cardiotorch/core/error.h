#pragma once
// Error types. The library throws; only the CLI turns errors into exit codes:
//   UsageError / ConfigError -> exit 2, every other Error -> exit 1.
// Messages are one line, name the offending file/key and say what was expected.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace cardiotorch {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad command line (unknown flag, missing argument).
class UsageError : public Error {
 public:
  using Error::Error;
};

/// Bad configuration: unknown key, out-of-range value, unknown registry name.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// Bad input data: corrupt/truncated file, header inconsistencies, NaN where not allowed.
class DataError : public Error {
 public:
  using Error::Error;
};

/// Tensor shape/dtype mismatch at an API boundary.
class ShapeError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

/// Concatenates its arguments with operator<< into one string.
template <class... Args>
std::string str_cat(Args&&... args) {
  return detail::cat(std::forward<Args>(args)...);
}

}  // namespace cardiotorch

/// CT_CHECK(cond, ErrorType, message parts...) throws ErrorType(message) when cond is false.
#define CT_CHECK(cond, ErrType, ...)                                \
  do {                                                              \
    if (!(cond)) throw ErrType(::cardiotorch::str_cat(__VA_ARGS__)); \
  } while (0)

/// For invariants of our own code (never for user input).
#define CT_INTERNAL_ASSERT(cond, ...)                                                     \
  do {                                                                                    \
    if (!(cond))                                                                          \
      throw ::cardiotorch::Error(::cardiotorch::str_cat("internal error at ", __FILE__, ":", \
                                                        __LINE__, ": ", #cond, " ", ##__VA_ARGS__)); \
  } while (0)
