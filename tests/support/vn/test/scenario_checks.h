#pragma once
// What the client scenarios must answer on any conforming renderer: the checks shared by the
// end-to-end tests (through libvenus-proxy) and the vtest tests (through venus-vtest).
#include "vn/scenarios/synchronization.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

namespace vn::test {

// fill.comp writes i * 3 + 1 at index i.
inline void check_fill_output(const std::vector<std::uint32_t>& values, std::uint32_t invocations) {
    REQUIRE(values.size() == invocations);
    INFO("first words: " << values[0] << " " << values[1] << " " << values[2]);
    std::uint32_t good = 0;
    for (std::uint32_t i = 0; i < invocations; ++i)
        good += values[i] == i * 3 + 1;
    CHECK(good == invocations);
}

// The timeline-semaphore and fence scenarios, with the results the Vulkan spec requires.
inline void check_synchronization(client::Guest& guest, const scenarios::Device& device) {
    const auto t = scenarios::exercise_timeline_semaphore(guest, device);
    CHECK(t.initial == 1);
    CHECK(t.after_host_signal == 5);
    CHECK(t.wait_reached == VK_SUCCESS);
    CHECK(t.wait_unreached == VK_TIMEOUT);
    CHECK(t.after_queue_signal == 9);
    const auto f = scenarios::exercise_fences(guest, device);
    CHECK(f.unsignaled == VK_NOT_READY);
    CHECK(f.after_submit == VK_SUCCESS);
    CHECK(f.after_reset == VK_NOT_READY);
    CHECK(f.created_signaled == VK_SUCCESS);
}

} // namespace vn::test
