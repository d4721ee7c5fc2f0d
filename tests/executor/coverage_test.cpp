// Which generated commands the executor runs on the host driver. `&Executor::on_vkX` has the type
// of the class that declares the handler, so the compiler itself says whether a command is
// hand-written (Executor), generated passthrough (PassthroughHandler) or left to the default that
// ends the context as not implemented (CommandHandler). The list is printed for the closing notes
// and the README; the test fails if a command the decoder must have for Mesa's start-up is missing.
#include "executor.h"
#include "exposed_chain.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <iostream>
#include <string>
#include <type_traits>
#include <vector>

namespace {

enum class Where { HandWritten, Generated, NotImplemented };

struct Entry {
    std::string name;
    Where where;
    std::uint32_t id = 0;
};

template <typename MemberPointer, typename Args>
constexpr Where where_declared() {
    using vn::protocol::Decoder;
    using vn::protocol::DecodeResult;
    if constexpr (std::is_same_v<MemberPointer,
                                 DecodeResult (vn::decoder::Executor::*)(Decoder&, Args&)>)
        return Where::HandWritten;
    else if constexpr (std::is_same_v<MemberPointer, DecodeResult (vn::gen::PassthroughHandler::*)(
                                                         Decoder&, Args&)>)
        return Where::Generated;
    else
        return Where::NotImplemented;
}

std::vector<Entry> coverage() {
    std::vector<Entry> entries;
#define VN_COVERAGE_ENTRY(name, id)                                                                \
    entries.push_back(                                                                             \
        {"vk" #name,                                                                               \
         where_declared<decltype(&vn::decoder::Executor::on_vk##name), vn::gen::name##Args>(),     \
         id});
    VN_GEN_FOR_EACH_COMMAND(VN_COVERAGE_ENTRY)
#undef VN_COVERAGE_ENTRY
    return entries;
}

} // namespace

TEST_CASE("executor coverage: generated commands that run on the host driver") {
    const auto entries = coverage();
    std::vector<std::string> missing;
    std::size_t hand = 0, generated = 0;
    for (const auto& e : entries) {
        if (e.where == Where::HandWritten)
            ++hand;
        else if (e.where == Where::Generated)
            ++generated;
        else
            missing.push_back(e.name);
    }
    std::cout << "executor: " << hand + generated << " of " << entries.size()
              << " generated commands run on the host driver (" << hand << " hand-written, "
              << generated << " generated)\nexecutor: not implemented (" << missing.size() << "):";
    for (const auto& m : missing)
        std::cout << ' ' << m;
    std::cout << '\n';
    // Not a count to keep up: the commands every Venus guest sends before it can do anything.
    for (const char* needed :
         {"vkCreateInstance", "vkEnumeratePhysicalDevices", "vkGetPhysicalDeviceProperties2",
          "vkCreateDevice", "vkGetDeviceQueue2", "vkAllocateMemory", "vkCreateBuffer",
          "vkBindBufferMemory2", "vkQueueSubmit", "vkCreateRingMESA", "vkCmdDraw"})
        CHECK(std::find(missing.begin(), missing.end(), needed) == missing.end());
}

namespace {
const vn::gen::ExtensionInfo& extension(const char* name) {
    for (const auto& info : vn::gen::extensions)
        if (std::string(info.name) == name)
            return info;
    FAIL("not in the protocol table: " << name);
    throw;
}
} // namespace

TEST_CASE("an extension is exposed only when everything it adds is decoded and executed") {
    const auto entries = coverage();
    std::size_t exposable = 0;
    for (const auto& info : vn::gen::extensions) {
        INFO(info.name);
        if (!vn::decoder::extension_exposable(info))
            continue;
        ++exposable;
        CHECK(info.in_registry);
        CHECK(info.host);
        CHECK(info.decodable);
        for (std::uint32_t i = 0; i < info.command_count; ++i) {
            const std::uint32_t id = info.command_ids[i];
            const auto it = std::find_if(entries.begin(), entries.end(),
                                         [&](const Entry& e) { return e.id == id; });
            INFO("command " << id);
            REQUIRE(it != entries.end());
            CHECK(it->where != Where::NotImplemented);
        }
    }
    CHECK(exposable > 50);
    // Ray tracing cannot be carried (pointer-to-pointer builds, capture-replay handles), and
    // what depends on it goes with it. Deferred host operations are Mesa's own.
    for (const char* hidden :
         {"VK_KHR_acceleration_structure", "VK_KHR_ray_tracing_pipeline", "VK_KHR_ray_query",
          "VK_KHR_ray_tracing_maintenance1", "VK_KHR_deferred_host_operations"}) {
        INFO(hidden);
        CHECK_FALSE(vn::decoder::extension_exposable(extension(hidden)));
    }
    // Decodable, but its commands name memory or fixed-array slots that no range rule checks yet
    // (sample locations, mesh-shader indirect draws): not executed, so not exposed.
    for (const char* unchecked : {"VK_EXT_sample_locations", "VK_EXT_mesh_shader"}) {
        INFO(unchecked);
        const auto& ext = extension(unchecked);
        CHECK(ext.decodable);
        CHECK(ext.command_count > 0);
        CHECK_FALSE(vn::decoder::extension_exposable(ext));
    }
    // Transform feedback has its range rules (transform_feedback.cpp): exposed.
    CHECK(vn::decoder::extension_exposable(extension("VK_EXT_transform_feedback")));
    // Everything it adds runs: exposed.
    CHECK(vn::decoder::extension_exposable(extension("VK_KHR_timeline_semaphore")));
    CHECK(vn::decoder::extension_exposable(extension("VK_KHR_push_descriptor")));
}
