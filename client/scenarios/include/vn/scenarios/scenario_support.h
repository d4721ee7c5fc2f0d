#pragma once
// What every scenario uses: calls that throw a Failure naming the command and the reason (a
// scenario is a sequence of steps, each of which must work), and guest-side handles from ids.
#include "vn/client/guest.h"
#include "vn/protocol/handles.h"

#include <stdexcept>
#include <string>

namespace vn::scenarios {

class Failure : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

template <typename H>
H handle(std::uint64_t id) {
    return protocol::handle_from_u64<H>(id);
}
template <typename H>
protocol::Ref<H> ref(std::uint64_t id) {
    return {id, handle<H>(id)};
}

// A synchronous call whose transport and reply must work (the VkResult is the caller's to judge).
template <typename Args>
Args call(client::Guest& guest, const Args& args) {
    Args reply{};
    if (guest.call(args, reply) != client::Status::Ok)
        throw Failure(std::string(Args::vn_name) + ": " + guest.last_error());
    return reply;
}

template <typename Args>
void send(client::Guest& guest, const Args& args) {
    if (guest.send(args) != client::Status::Ok)
        throw Failure(std::string(Args::vn_name) + ": " + guest.last_error());
}

// Throws unless result is VK_SUCCESS (or, with allow_incomplete, VK_INCOMPLETE).
void expect_success(VkResult result, const char* what, bool allow_incomplete = false);

// The first struct of type `type` in a pNext chain, or nullptr.
const void* find_in_chain(const void* chain, VkStructureType type);

} // namespace vn::scenarios
