# PlumbFuzz.cmake: the libFuzzer harnesses (test/fuzz/fuzz_*.c), with -DPLUMB_FUZZ=ON and clang
# (scripts/fuzz.sh configures build-fuzz/ this way and runs them).
# The whole of plumb_lib is instrumented for coverage and built with ASan + UBSan (every UBSan
# report aborts, so the fuzzer keeps it as a crash); each harness links libFuzzer's main.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "plumb: PLUMB_FUZZ=ON needs clang (libFuzzer): CC=clang cmake -DPLUMB_FUZZ=ON ...")
endif()
if(PLUMB_HAVE_CUDA)
  message(FATAL_ERROR "plumb: PLUMB_FUZZ=ON builds the CPU library only: add -DPLUMB_CUDA=OFF")
endif()

set(PLUMB_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer -g -O1)
# After plumb_lib's own -O3 on the command line, so -O1 wins; clang 14 does not know gcc's
# -Wno-format-truncation that plumb_lib passes.
target_compile_options(plumb_lib PRIVATE ${PLUMB_FUZZ_FLAGS} -Wno-unknown-warning-option)
# The convention of libpng's and others' harnesses: checksums (PNG chunk CRCs) are not enforced,
# so that mutated inputs reach the decoders behind them.
target_compile_definitions(plumb_lib PRIVATE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
target_link_options(plumb_lib INTERFACE -fsanitize=fuzzer-no-link,address,undefined)

file(GLOB PLUMB_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/test/fuzz/fuzz_*.c)
add_custom_target(plumb_fuzz)
foreach(src ${PLUMB_FUZZ_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
  target_compile_options(${name} PRIVATE -Wall -Wextra -Werror
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${name} PRIVATE plumb_lib)
  add_dependencies(plumb_fuzz ${name})
endforeach()
message(STATUS "plumb: libFuzzer harnesses: target plumb_fuzz (scripts/fuzz.sh runs them)")
