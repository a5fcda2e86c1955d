# Compiler, linker and cache settings shared by every target.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
# lld links a torch binary in ~0.2 s instead of ~1.4 s with GNU ld.
find_program(LLD_PROGRAM ld.lld)
if(LLD_PROGRAM)
  add_link_options(-fuse-ld=lld)
endif()
function(cardiotorch_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(CARDIOTORCH_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# BLAS: LibTorch reaches sgemm through libblas.so.3, which Debian's alternatives usually resolve to
# OpenBLAS's pthread build. Its thread pool then contends with ATen's OpenMP team for the same
# cores (bench_vit batch-1 latency at 2 threads: 82-120 ms, 24 ms with one pool). When the OpenMP
# build is installed (libopenblas0-openmp), put its directory first on every binary's search path.
# DT_RPATH (not RUNPATH) because it must also apply to libtorch_cpu's own dependency on libblas.
set(CT_OPENBLAS_OPENMP_DIR "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp")
if(CMAKE_LIBRARY_ARCHITECTURE AND EXISTS "${CT_OPENBLAS_OPENMP_DIR}/libblas.so.3")
  add_link_options("LINKER:--disable-new-dtags" "LINKER:-rpath,${CT_OPENBLAS_OPENMP_DIR}")
  message(STATUS "BLAS: OpenBLAS's OpenMP build first on the search path (${CT_OPENBLAS_OPENMP_DIR})")
else()
  message(STATUS "BLAS: libopenblas0-openmp not found; the system's libblas.so.3 is used")
endif()
