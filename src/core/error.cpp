#include "cardiotorch/core/error.h"

#include <c10/util/Exception.h>

namespace cardiotorch {

void rethrow_with_context(const std::string& prefix) {
  // Most derived first: each catch rethrows the same category with the prefix.
  try {
    throw;
  } catch (const IoError& e) {
    throw IoError(prefix + e.what());
  } catch (const DataError& e) {
    throw DataError(prefix + e.what());
  } catch (const UsageError& e) {
    throw UsageError(prefix + e.what());
  } catch (const ConfigError& e) {
    throw ConfigError(prefix + e.what());
  } catch (const ShapeError& e) {
    throw ShapeError(prefix + e.what());
  } catch (const IndexError& e) {
    throw IndexError(prefix + e.what());
  } catch (const ArgumentError& e) {
    throw ArgumentError(prefix + e.what());
  } catch (const InternalError& e) {
    throw InternalError(prefix + e.what());
  } catch (const Error& e) {
    throw Error(prefix + e.what());
  } catch (const c10::Error& e) {  // a LibTorch check: its message without the C++ backtrace
    throw Error(prefix + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Error(prefix + e.what());
  } catch (...) {
    throw Error(prefix + "unknown exception");
  }
}

}  // namespace cardiotorch
