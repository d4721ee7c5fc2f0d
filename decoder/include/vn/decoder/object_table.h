#pragma once
// Guest object ids -> host Vulkan handles, one typed table per handle type (design point 5).
//
// Venus ids are chosen by the guest (Mesa uses object addresses), so the wire cannot carry
// generations. Safety comes from three rules instead, each fatal for the context when broken:
// an id is free when an object is created with it (across ALL types, so one id never names two
// objects), it names an object of the expected type when it is looked up, and it is gone once
// that object is destroyed. Id 0 is VK_NULL_HANDLE and never names an object.
#include "vn/decoder/handle_list.h"
#include "vn/protocol/decode_result.h"
#include "vn/protocol/decoder.h"
#include "vn/protocol/handles.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vulkan/vulkan_core.h>

namespace vn::decoder {

using protocol::DecodeResult;

template <typename H>
struct HandleTraits; // defined only for the handle types in handle_list.h

#define VN_DECODER_HANDLE_TRAITS(H, T)                                                             \
    template <>                                                                                    \
    struct HandleTraits<H> {                                                                       \
        static constexpr VkObjectType object_type = T;                                             \
        static constexpr const char* name = #H;                                                    \
    };
VN_DECODER_FOR_EACH_HANDLE(VN_DECODER_HANDLE_TRAITS)
#undef VN_DECODER_HANDLE_TRAITS

template <typename H>
concept TrackedHandle = requires {
    HandleTraits<H>::object_type;
};

// "VkImage" for the types we track, "VkObjectType 1234" for anything else (guest-chosen values
// end up in log lines, so this never fails).
std::string object_type_name(VkObjectType type);
bool is_tracked_object_type(VkObjectType type);

// Hook for what handlers need to remember about an object beyond its host handle (a device's
// dispatch table, a memory object's mapping). Handlers derive from it.
class ObjectState {
  public:
    virtual ~ObjectState() = default;
};

template <TrackedHandle H>
struct ObjectEntry {
    H handle{};
    std::unique_ptr<ObjectState> state;
};

template <TrackedHandle H>
class ObjectTable {
  public:
    using Handle = H;
    using Entry = ObjectEntry<H>;
    using Map = std::unordered_map<std::uint64_t, Entry>;
    static constexpr VkObjectType object_type = HandleTraits<H>::object_type;

    // The last entry found is remembered: handlers look up the same object (the command buffer
    // being recorded) for command after command, and a hash lookup per command was the largest
    // share of the executor's own time in ring throughput. Entries are map nodes, so the pointer
    // stays valid until that id is erased, which clears it. Tables are only used under the
    // executor's dispatch lock.
    // The entry find() returned last when `id` names it, else null: no call at all, so a caller
    // whose slow path is a tail call keeps no registers.
    [[gnu::always_inline]] Entry* last_hit(std::uint64_t id) const {
        return id == m_last_id && id != 0 ? m_last : nullptr;
    }
    [[gnu::always_inline]] Entry* find(std::uint64_t id) {
        if (Entry* hit = last_hit(id)) [[likely]]
            return hit;
        return find_and_remember(id);
    }
    const Entry* find(std::uint64_t id) const {
        if (const Entry* hit = last_hit(id)) [[likely]]
            return hit;
        auto it = m_entries.find(id);
        return it == m_entries.end() ? nullptr : &it->second;
    }
    std::size_t size() const { return m_entries.size(); }
    typename Map::const_iterator begin() const { return m_entries.begin(); }
    typename Map::const_iterator end() const { return m_entries.end(); }

  private:
    // Out of line, so that the hit above stays a few instructions wherever it is inlined.
    [[gnu::noinline]] Entry* find_and_remember(std::uint64_t id) {
        auto it = m_entries.find(id);
        if (it == m_entries.end())
            return nullptr;
        m_last_id = id;
        m_last = &it->second;
        return m_last;
    }
    // Only ObjectTables mutates a table, so the id registry and the tables cannot disagree.
    friend class ObjectTables;
    Entry& insert(std::uint64_t id, H handle, std::unique_ptr<ObjectState> state) {
        return m_entries.try_emplace(id, Entry{handle, std::move(state)}).first->second;
    }
    bool erase(std::uint64_t id) {
        if (id == m_last_id) {
            m_last_id = 0;
            m_last = nullptr;
        }
        return m_entries.erase(id) != 0;
    }

    Map m_entries;
    std::uint64_t m_last_id = 0; // 0: nothing remembered (id 0 never names an object)
    Entry* m_last = nullptr;
};

namespace detail {
// The handle list is an X-macro (so the generator can emit it); turning it into a type list
// needs a leading element because every entry expands to ", H".
struct HandleListBegin {};
template <typename... H>
struct HandleList {};
template <typename List>
struct TablesFor;
template <typename... H>
struct TablesFor<HandleList<HandleListBegin, H...>> {
    using type = std::tuple<ObjectTable<H>...>;
    static constexpr std::size_t count = sizeof...(H);
};
#define VN_DECODER_HANDLE_LIST_ENTRY(H, T) , H
using AllHandles =
    HandleList<HandleListBegin VN_DECODER_FOR_EACH_HANDLE(VN_DECODER_HANDLE_LIST_ENTRY)>;
#undef VN_DECODER_HANDLE_LIST_ENTRY
} // namespace detail

inline constexpr std::size_t tracked_handle_type_count =
    detail::TablesFor<detail::AllHandles>::count;

// All objects of one context. It is the decoder's ObjectResolver; failures go to the context's
// sticky FatalState with a one-line reason.
class ObjectTables final : public protocol::ObjectResolver {
  public:
    explicit ObjectTables(protocol::FatalState& fatal) : m_fatal(&fatal) {}
    // The context's sticky fatal state, which every decoder of the context (rings too) shares.
    protocol::FatalState& fatal() const { return *m_fatal; }
    ObjectTables(const ObjectTables&) = delete;
    ObjectTables& operator=(const ObjectTables&) = delete;

    // Registers a new object. Fatal for id 0, an id in use by any object, or an untracked type.
    DecodeResult add(VkObjectType type, std::uint64_t id, std::uint64_t host);
    template <TrackedHandle H>
    DecodeResult add(std::uint64_t id, H host, std::unique_ptr<ObjectState> state = nullptr) {
        VN_TRY(claim(HandleTraits<H>::object_type, id));
        table<H>().insert(id, host, std::move(state));
        return DecodeResult::Ok;
    }

    // Forgets a destroyed object. Id 0 is accepted and ignored, as vkDestroy*(VK_NULL_HANDLE)
    // is; an unknown id or one of another type is fatal.
    DecodeResult remove(VkObjectType type, std::uint64_t id);
    template <TrackedHandle H>
    DecodeResult remove(std::uint64_t id) {
        if (id == 0)
            return DecodeResult::Ok;
        if (!table<H>().erase(id)) [[unlikely]]
            return fail_lookup(HandleTraits<H>::object_type, id);
        m_types.erase(id);
        forget(id);
        return DecodeResult::Ok;
    }

    // Host-side lookup: nullptr when the id is unknown, null, or of another type. Never fatal;
    // for guest-supplied ids use get().
    template <TrackedHandle H>
    ObjectEntry<H>* find(std::uint64_t id) {
        return table<H>().find(id);
    }
    // Guest-supplied id that must name a live H. Fatal otherwise, naming both types on a mismatch.
    template <TrackedHandle H>
    DecodeResult get(std::uint64_t id, ObjectEntry<H>*& out) {
        out = table<H>().find(id);
        if (!out) [[unlikely]]
            return fail_lookup(HandleTraits<H>::object_type, id);
        return DecodeResult::Ok;
    }

    // ObjectResolver: the generated decoders' way in. One hash lookup when the id is good; the
    // registry is only consulted to word the error.
    DecodeResult resolve(VkObjectType type, std::uint64_t id, std::uint64_t& host) override;

    std::optional<VkObjectType> type_of(std::uint64_t id) const;
    // Live objects of every type.
    std::size_t size() const { return m_types.size(); }

    template <TrackedHandle H>
    ObjectTable<H>& table() {
        return std::get<ObjectTable<H>>(m_tables);
    }
    template <TrackedHandle H>
    const ObjectTable<H>& table() const {
        return std::get<ObjectTable<H>>(m_tables);
    }

  private:
    // Calls f(ObjectTable<H>&) for the table of `type`; false when no table tracks that type.
    template <typename F>
    bool visit(VkObjectType type, F&& f) {
        switch (type) {
#define VN_DECODER_VISIT_CASE(H, T)                                                                \
    case T:                                                                                        \
        f(table<H>());                                                                             \
        return true;
            VN_DECODER_FOR_EACH_HANDLE(VN_DECODER_VISIT_CASE)
#undef VN_DECODER_VISIT_CASE
        default:
            return false;
        }
    }

    DecodeResult claim(VkObjectType type, std::uint64_t id);
    DecodeResult fail_lookup(VkObjectType expected, std::uint64_t id) const;
    DecodeResult fail_untracked(VkObjectType type, std::uint64_t id) const;

    protocol::FatalState* m_fatal;
    // id -> type for every live object, so an id is unique across all tables.
    std::unordered_map<std::uint64_t, VkObjectType> m_types;
    detail::TablesFor<detail::AllHandles>::type m_tables;
};

} // namespace vn::decoder
