#pragma once
// Vulkan handles are pointers on 64-bit hosts (and uint64_t for non-dispatchable handles on 32-bit
// ones). On the wire every handle is a 64-bit object id; these helpers convert without caring
// which representation the platform uses.
#include <cstdint>
#include <type_traits>

namespace vn::protocol {

template <typename H>
H handle_from_u64(std::uint64_t v) {
    if constexpr (std::is_pointer_v<H>)
        return reinterpret_cast<H>(static_cast<std::uintptr_t>(v));
    else
        return static_cast<H>(v);
}

template <typename H>
std::uint64_t handle_to_u64(H h) {
    if constexpr (std::is_pointer_v<H>)
        return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h));
    else
        return static_cast<std::uint64_t>(h);
}

// A top-level handle parameter after resolution: the guest's id (to find our own bookkeeping for
// it) and the host driver's handle (to call Vulkan with).
template <typename H>
struct Ref {
    std::uint64_t id = 0;
    H handle{};
};

} // namespace vn::protocol
