// Catch2's main compiled with our flags, so sanitizer and fuzzer builds need no prebuilt library
// that was compiled differently.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
