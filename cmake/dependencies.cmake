# Third-party packages. All come from Debian (see scripts/run.sh for the apt list).
find_package(Torch REQUIRED)
# at::parallel_for is a header template whose OpenMP backend is a `#pragma omp parallel`
# compiled into *our* translation units: without -fopenmp it silently runs on one thread.
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(yaml-cpp REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(MATIO REQUIRED IMPORTED_TARGET matio)
if(CARDIOTORCH_BUILD_CLI)
  find_package(CLI11 REQUIRED)
endif()
set(CARDIOTORCH_OPTIONAL_LIBS "")
set(CARDIOTORCH_OPTIONAL_DEFS "")
# FLAC (WFDB formats 508/516/524) is optional: without it those formats raise a clear error.
pkg_check_modules(FLAC IMPORTED_TARGET flac)
if(FLAC_FOUND)
  list(APPEND CARDIOTORCH_OPTIONAL_LIBS PkgConfig::FLAC)
  list(APPEND CARDIOTORCH_OPTIONAL_DEFS CARDIOTORCH_HAVE_FLAC=1)
endif()
message(STATUS "cardiotorch: Torch ${Torch_VERSION}, FLAC ${FLAC_FOUND}")

# zlib: .npz members (deflate). Debian zlib1g-dev (already pulled in by libmatio-dev).
find_package(ZLIB REQUIRED)
list(APPEND CARDIOTORCH_OPTIONAL_LIBS ZLIB::ZLIB)

# EDFlib (EDF / EDF+ / BDF reading): Debian libedf-dev ships edflib.h + libedf.so, no pkg-config file.
# Optional: without it, reading an .edf/.bdf raises a DataError saying so.
find_path(EDFLIB_INCLUDE_DIR edflib.h)
find_library(EDFLIB_LIBRARY NAMES edf)
if(EDFLIB_INCLUDE_DIR AND EDFLIB_LIBRARY)
  add_library(cardiotorch_edflib INTERFACE)
  target_include_directories(cardiotorch_edflib INTERFACE ${EDFLIB_INCLUDE_DIR})
  target_link_libraries(cardiotorch_edflib INTERFACE ${EDFLIB_LIBRARY})
  list(APPEND CARDIOTORCH_OPTIONAL_LIBS cardiotorch_edflib)
  list(APPEND CARDIOTORCH_OPTIONAL_DEFS CARDIOTORCH_HAVE_EDFLIB=1)
  set(CARDIOTORCH_EDFLIB_FOUND ON)
else()
  set(CARDIOTORCH_EDFLIB_FOUND OFF)
  message(WARNING "cardiotorch: EDFlib not found (apt-get install libedf-dev): EDF/BDF reading disabled")
endif()

# cairo (ECG plots as SVG/PNG). Optional: without it, plotting raises an Error saying so.
pkg_check_modules(CAIRO IMPORTED_TARGET cairo)
if(CAIRO_FOUND)
  list(APPEND CARDIOTORCH_OPTIONAL_LIBS PkgConfig::CAIRO)
  list(APPEND CARDIOTORCH_OPTIONAL_DEFS CARDIOTORCH_HAVE_CAIRO=1)
else()
  message(WARNING "cardiotorch: cairo not found (apt-get install libcairo2-dev): ECG plotting disabled")
endif()
message(STATUS "cardiotorch: EDFlib ${CARDIOTORCH_EDFLIB_FOUND}, cairo ${CAIRO_FOUND}")
