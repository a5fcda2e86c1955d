#pragma once
// Error types. The library throws; only the CLI turns errors into exit codes:
//   UsageError / ConfigError -> exit 2, InternalError -> exit 3, every other Error -> exit 1.
// Messages are one line, name the offending file/key and say what was expected.
//
// Pick the category by what happened, not by where:
//   UsageError     the command line is wrong
//   ConfigError    a configuration value is wrong (a YAML key, an option, an unknown registry name)
//   DataError      the input data is wrong (corrupt file, inconsistent header, NaN where not allowed)
//   IoError        a file cannot be opened, read or written (a DataError: unreadable input is bad input)
//   ShapeError     a tensor's shape or dtype does not fit an API
//   IndexError     an index outside a container (dataset item, cache entry)
//   ArgumentError  a library function got an argument outside its domain (an even median kernel,
//                  a target length of 0); options read from a config fail their validate() first
//   InternalError  an invariant of cardiotorch itself broke (a bug); CT_INTERNAL_ASSERT throws it
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

/// A file that cannot be opened, read or written.
class IoError : public DataError {
 public:
  using DataError::DataError;
};

/// Tensor shape/dtype mismatch at an API boundary.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// An index outside the valid range of a container.
class IndexError : public Error {
 public:
  using Error::Error;
};

/// An argument outside a library function's domain (the caller's mistake, not the data's).
class ArgumentError : public Error {
 public:
  using Error::Error;
};

/// A broken invariant of cardiotorch's own code: a bug to report, never bad input.
class InternalError : public Error {
 public:
  using Error::Error;
};

/// Rethrows the exception being handled with `prefix` put in front of its message, keeping its
/// category (a DataError stays a DataError, so on_error: skip and exit codes still work). Foreign
/// exceptions (LibTorch checks, std::bad_alloc, ...) become Error. Call it only inside a catch
/// block: the cache build and the loader use it to say which record failed.
///   try { ... } catch (...) { rethrow_with_context(str_cat("record ", id, ": ")); }
[[noreturn]] void rethrow_with_context(const std::string& prefix);

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
#define CT_CHECK(cond, ErrType, ...)                                 \
  do {                                                               \
    if (!(cond)) throw ErrType(::cardiotorch::str_cat(__VA_ARGS__)); \
  } while (0)

/// For invariants of our own code (never for user input): throws InternalError.
#define CT_INTERNAL_ASSERT(cond, ...)                                                                              \
  do {                                                                                                             \
    if (!(cond))                                                                                                   \
      throw ::cardiotorch::InternalError(                                                                          \
          ::cardiotorch::str_cat("internal error at ", __FILE__, ":", __LINE__, ": ", #cond, " ", ##__VA_ARGS__)); \
  } while (0)
