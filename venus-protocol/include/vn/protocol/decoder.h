#pragma once
// What generated decode functions receive: the bounded reader, the per-command arena, and the
// resolver that turns guest object ids into host handles. Without a resolver (driver side, tests,
// fuzzing) ids are kept as they are.
#include "vn/protocol/arena.h"
#include "vn/protocol/handles.h"
#include "vn/protocol/reader.h"

#include <cstdint>
#include <vulkan/vulkan_core.h>

namespace vn::protocol {

class ObjectResolver {
  public:
    virtual ~ObjectResolver() = default;
    // `id` is non-zero. Fatal when the id is unknown or names an object of another type.
    virtual DecodeResult resolve(VkObjectType type, std::uint64_t id, std::uint64_t& host) = 0;

    // The decoder's entry point: a hit in the small cache of recent lookups costs no call.
    // Command streams name the same few objects over and over (the command buffer being recorded,
    // its pipeline and layout), so most lookups end here.
    [[gnu::always_inline]] DecodeResult lookup(VkObjectType type, std::uint64_t id,
                                               std::uint64_t& host) {
        if (cached(type, id, host)) [[likely]]
            return DecodeResult::Ok;
        return resolve(type, id, host);
    }
    // The cache alone: false on a miss. `id` is non-zero.
    [[gnu::always_inline]] bool cached(VkObjectType type, std::uint64_t id,
                                       std::uint64_t& host) const {
        const CachedLookup& c = m_cache[cache_slot(id)];
        if (c.id != id || c.type != type)
            return false;
        host = c.host;
        return true;
    }

  protected:
    // Implementations call remember() after a successful resolve and forget() when an object
    // is destroyed, so only live objects are ever cached.
    void remember(VkObjectType type, std::uint64_t id, std::uint64_t host) {
        m_cache[cache_slot(id)] = CachedLookup{id, host, type};
    }
    void forget(std::uint64_t id) {
        CachedLookup& c = m_cache[cache_slot(id)];
        if (c.id == id)
            c = CachedLookup{};
    }

  private:
    struct CachedLookup {
        std::uint64_t id = 0; // 0 never matches: id 0 is resolved before a lookup
        std::uint64_t host = 0;
        VkObjectType type = VK_OBJECT_TYPE_UNKNOWN;
    };
    static constexpr std::size_t cache_slots = 64;
    static std::size_t cache_slot(std::uint64_t id) {
        // Fibonacci hashing: guest ids are aligned addresses or small counters; both spread.
        return static_cast<std::size_t>((id * 0x9e3779b97f4a7c15ull) >> 58);
    }
    CachedLookup m_cache[cache_slots]{};
};

struct Decoder {
    Reader& in;
    Arena& arena;
    ObjectResolver* resolver = nullptr;

    // Space for `count` decoded elements, each of which needs at least `min_wire_size` bytes of
    // the remaining stream. The wire check comes first: a count the stream cannot back is refused
    // before it can size an allocation.
    template <typename T>
    DecodeResult alloc(T*& out, std::uint64_t count, std::size_t min_wire_size) {
        VN_TRY(in.reserve(count, min_wire_size));
        return alloc_unbacked(out, count);
    }
    // Output arrays (reply storage) have no wire bytes behind them; only the arena cap bounds them.
    template <typename T, bool Zero = true>
    DecodeResult alloc_unbacked(T*& out, std::uint64_t count) {
        if (count == 0) {
            out = nullptr;
            return DecodeResult::Ok;
        }
        out = arena.allocate_array<T, Zero>(count);
        if (!out) [[unlikely]]
            return alloc_failed(count, sizeof(T));
        return DecodeResult::Ok;
    }
    // The same for an array the generated decoder overwrites in full at once (packed scalars,
    // bytes, handles): zeroing it first would only be undone. Should decoding stop half-way, the
    // command fails and nothing reads the array.
    template <typename T>
    DecodeResult alloc_overwritten(T*& out, std::uint64_t count, std::size_t min_wire_size) {
        VN_TRY(in.reserve(count, min_wire_size));
        return alloc_unbacked<T, false>(out, count);
    }
    template <typename T>
    DecodeResult alloc_unbacked_overwritten(T*& out, std::uint64_t count) {
        return alloc_unbacked<T, false>(out, count);
    }

    // An input handle: 0 is VK_NULL_HANDLE, anything else must resolve to a live object of `type`.
    template <typename H>
    DecodeResult handle(H& out, VkObjectType type) {
        std::uint64_t id;
        VN_TRY(in.u64(id));
        return handle_id(out, id, type);
    }
    // The same for an id already read (a run of fixed-size fields, Reader::take).
    template <typename H>
    [[gnu::always_inline]] DecodeResult handle_id(H& out, std::uint64_t id, VkObjectType type) {
        std::uint64_t host;
        if (id != 0 && resolver && resolver->cached(type, id, host)) [[likely]] {
            out = handle_from_u64<H>(host);
            return DecodeResult::Ok;
        }
        if (id == 0 || !resolver) {
            out = handle_from_u64<H>(id);
            return DecodeResult::Ok;
        }
        return resolve_into(id, out, type);
    }
    // A handle the guest is naming for a new object (or an id echoed in a reply): kept raw.
    template <typename H>
    DecodeResult object_id(H& out) {
        std::uint64_t id;
        VN_TRY(in.u64(id));
        out = handle_from_u64<H>(id);
        return DecodeResult::Ok;
    }

    // A top-level handle parameter: keeps the guest id next to the host handle. `required` names
    // the parameter when VK_NULL_HANDLE is not acceptable there (nullptr when it is). Inline up to
    // a hit in the resolver's cache (nearly every handle of a command stream); the rest is not.
    template <typename H>
    [[gnu::always_inline]] DecodeResult ref(Ref<H>& out, VkObjectType type, const char* required) {
        std::uint64_t id;
        VN_TRY(in.u64(id));
        return ref_id(out, id, type, required);
    }
    // The same for an id already read (a run of fixed-size fields, Reader::take).
    template <typename H>
    [[gnu::always_inline]] DecodeResult ref_id(Ref<H>& out, std::uint64_t id, VkObjectType type,
                                               const char* required) {
        out.id = id;
        std::uint64_t host;
        if (out.id != 0 && resolver && resolver->cached(type, out.id, host)) [[likely]] {
            out.handle = handle_from_u64<H>(host);
            return DecodeResult::Ok;
        }
        return ref_uncached(out, type, required);
    }
    // One element of a top-level input handle array: id and host handle side by side.
    template <typename H>
    [[gnu::always_inline]] DecodeResult ref_into(std::uint64_t& id, H& handle, VkObjectType type) {
        VN_TRY(in.u64(id));
        return handle_id(handle, id, type);
    }

    // `const char*`: u64 size including the NUL, then the bytes padded to 4. Size 0 is NULL. A
    // string whose last byte is not NUL is fatal, so none can run past its allocation.
    DecodeResult string(const char*& out);
    // `char name[N]`: u64 count that must equal N, then N bytes padded; must hold a NUL.
    DecodeResult char_array(char* dst, std::size_t n);

    DecodeResult alloc_failed(std::uint64_t count, std::size_t elem_size) const;
    DecodeResult null_handle(const char* what) const;

  private:
    template <typename H>
    [[gnu::noinline]] DecodeResult ref_uncached(Ref<H>& out, VkObjectType type,
                                                const char* required) {
        if (out.id == 0) {
            out.handle = H{};
            if (required) [[unlikely]]
                return null_handle(required);
            return DecodeResult::Ok;
        }
        return resolve_into(out.id, out.handle, type);
    }
    template <typename H>
    [[gnu::noinline]] DecodeResult resolve_into(std::uint64_t id, H& handle, VkObjectType type) {
        if (!resolver) {
            handle = handle_from_u64<H>(id);
            return DecodeResult::Ok;
        }
        std::uint64_t host;
        VN_TRY(resolver->lookup(type, id, host));
        handle = handle_from_u64<H>(host);
        return DecodeResult::Ok;
    }
};

} // namespace vn::protocol
