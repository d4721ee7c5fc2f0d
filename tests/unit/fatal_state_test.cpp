#include "vn/protocol/decode_result.h"

#include <catch2/catch.hpp>

using vn::protocol::DecodeResult;
using vn::protocol::FatalState;

namespace {

int g_after_try = 0;

DecodeResult passes() {
    return DecodeResult::Ok;
}

DecodeResult chain(FatalState& fatal, bool fail_first) {
    VN_TRY(fail_first ? fatal.fail("inner") : passes());
    ++g_after_try;
    return DecodeResult::Ok;
}

DecodeResult checked(FatalState& fatal, int value) {
    VN_CHECK(value < 10, fatal, "value out of range");
    return DecodeResult::Ok;
}

} // namespace

TEST_CASE("FatalState starts healthy", "[fatal]") {
    FatalState fatal;
    CHECK_FALSE(fatal.is_fatal());
    CHECK(fatal.reason().empty());
}

TEST_CASE("FatalState is sticky and keeps the first reason", "[fatal]") {
    FatalState fatal;
    CHECK(fatal.fail("first") == DecodeResult::Fatal);
    CHECK(fatal.fail("second") == DecodeResult::Fatal);
    CHECK(fatal.fail("") == DecodeResult::Fatal);
    CHECK(fatal.is_fatal());
    CHECK(fatal.reason() == "first");
}

TEST_CASE("VN_TRY returns early on Fatal and falls through on Ok", "[fatal]") {
    FatalState fatal;
    g_after_try = 0;
    CHECK(chain(fatal, false) == DecodeResult::Ok);
    CHECK(g_after_try == 1);
    CHECK(chain(fatal, true) == DecodeResult::Fatal);
    CHECK(g_after_try == 1);
    CHECK(fatal.reason() == "inner");
}

TEST_CASE("VN_CHECK fails with its reason", "[fatal]") {
    FatalState fatal;
    CHECK(checked(fatal, 3) == DecodeResult::Ok);
    CHECK_FALSE(fatal.is_fatal());
    CHECK(checked(fatal, 10) == DecodeResult::Fatal);
    CHECK(fatal.reason() == "value out of range");
}
