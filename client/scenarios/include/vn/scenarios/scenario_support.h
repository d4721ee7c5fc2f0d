#pragma once
// What every scenario uses: calls that throw a Failure naming the command and the reason (a
// scenario is a sequence of steps, each of which must work), and guest-side handles from ids.
#include "vn/client/guest.h"
#include "vn/client/ring.h"
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

// Where a scenario's commands travel: the context path (SUBMIT_CMD), or a Venus ring, as Mesa's
// driver sends everything after start-up. The same bytes either way; replies always come back
// through the guest's reply stream. A Guest converts to its context path.
class Commands {
  public:
    Commands(client::Guest& guest, client::Ring* ring = nullptr) : m_guest(&guest), m_ring(ring) {}

    client::Guest& guest() const { return *m_guest; }
    client::Ring* ring() const { return m_ring; }
    const char* name() const { return m_ring ? "ring" : "context path (SUBMIT_CMD)"; }
    std::uint64_t new_id() const { return m_guest->new_id(); }

    void submit(std::span<const std::byte> bytes) const {
        std::uint32_t seqno = 0;
        check(m_ring ? m_ring->submit(bytes, seqno) : m_guest->submit(bytes),
              m_ring ? "ring submit" : "SUBMIT_CMD");
    }
    template <typename Args>
    void send(const Args& args) const {
        check(m_ring ? m_ring->send(args) : m_guest->send(args), Args::vn_name);
    }
    // A synchronous call whose transport and reply must work (the VkResult is the caller's).
    template <typename Args>
    Args call(const Args& args) const {
        Args reply{};
        check(m_ring ? m_ring->call(args, reply) : m_guest->call(args, reply), Args::vn_name);
        return reply;
    }
    // Everything submitted so far has been executed.
    void drain() const {
        check(m_ring ? m_ring->wait(m_ring->tail(), m_guest->options().timeout_ms)
                     : m_guest->sync(),
              m_ring ? "ring wait" : "fence");
    }

  private:
    void check(client::Status s, const char* what) const {
        if (s != client::Status::Ok)
            throw Failure(
                std::string(what) + ": " +
                (m_guest->last_error().empty() ? client::status_string(s) : m_guest->last_error()));
    }
    client::Guest* m_guest;
    client::Ring* m_ring;
};

// What every scenario step uses: a call (or a command) that must get through, else a Failure
// naming it.
template <typename Args>
Args call(const Commands& commands, const Args& args) {
    return commands.call(args);
}
template <typename Args>
void send(const Commands& commands, const Args& args) {
    commands.send(args);
}

// Throws unless result is VK_SUCCESS (or, with allow_incomplete, VK_INCOMPLETE).
void expect_success(VkResult result, const char* what, bool allow_incomplete = false);

// The first struct of type `type` in a pNext chain, or nullptr.
const void* find_in_chain(const void* chain, VkStructureType type);

} // namespace vn::scenarios
