# Warning, sanitizer and fuzzer flags shared by every target we compile.
add_library(vn_warnings INTERFACE)
target_compile_options(vn_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                             -Wconversion -Wno-sign-conversion)
if(VN_WERROR)
  target_compile_options(vn_warnings INTERFACE -Werror)
endif()

# Generated code is checked by its own golden tests; it is compiled with the same warnings
# except the ones that need per-site casts the generator cannot know about.
add_library(vn_generated_warnings INTERFACE)
target_compile_options(vn_generated_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter
                                                       -Wno-unused-function)
if(VN_WERROR)
  target_compile_options(vn_generated_warnings INTERFACE -Werror)
endif()

if(VN_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(VN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "VN_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++ "
                        "-DCMAKE_C_COMPILER=clang")
  endif()
  # Everything is instrumented for coverage; only fuzz targets link the libFuzzer main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
