#include "vn/decoder/object_table.h"

#include <cstdio>

namespace vn::decoder {

namespace {

const char* tracked_name(VkObjectType type) {
    switch (type) {
#define VN_DECODER_NAME_CASE(H, T)                                                                 \
    case T:                                                                                        \
        return #H;
        VN_DECODER_FOR_EACH_HANDLE(VN_DECODER_NAME_CASE)
#undef VN_DECODER_NAME_CASE
    default:
        return nullptr;
    }
}

unsigned long long as_ull(std::uint64_t v) {
    return static_cast<unsigned long long>(v);
}

} // namespace

std::string object_type_name(VkObjectType type) {
    if (const char* name = tracked_name(type))
        return name;
    return "VkObjectType " + std::to_string(static_cast<long long>(type));
}

bool is_tracked_object_type(VkObjectType type) {
    return tracked_name(type) != nullptr;
}

DecodeResult ObjectTables::add(VkObjectType type, std::uint64_t id, std::uint64_t host) {
    // Checked before claiming the id, so a bad type leaves no orphan in the registry.
    if (!is_tracked_object_type(type)) [[unlikely]]
        return fail_untracked(type, id);
    VN_TRY(claim(type, id));
    visit(type, [&](auto& table) {
        using Handle = typename std::remove_reference_t<decltype(table)>::Handle;
        table.insert(id, protocol::handle_from_u64<Handle>(host), nullptr);
    });
    return DecodeResult::Ok;
}

DecodeResult ObjectTables::remove(VkObjectType type, std::uint64_t id) {
    if (!is_tracked_object_type(type)) [[unlikely]]
        return fail_untracked(type, id);
    if (id == 0)
        return DecodeResult::Ok;
    bool erased = false;
    visit(type, [&](auto& table) { erased = table.erase(id); });
    if (!erased) [[unlikely]]
        return fail_lookup(type, id);
    m_types.erase(id);
    forget(id);
    return DecodeResult::Ok;
}

DecodeResult ObjectTables::resolve(VkObjectType type, std::uint64_t id, std::uint64_t& host) {
    bool found = false;
    const bool tracked = visit(type, [&](auto& table) {
        if (const auto* entry = table.find(id)) {
            host = protocol::handle_to_u64(entry->handle);
            found = true;
        }
    });
    if (!tracked) [[unlikely]]
        return fail_untracked(type, id);
    if (!found) [[unlikely]]
        return fail_lookup(type, id);
    remember(type, id, host);
    return DecodeResult::Ok;
}

std::optional<VkObjectType> ObjectTables::type_of(std::uint64_t id) const {
    auto it = m_types.find(id);
    if (it == m_types.end())
        return std::nullopt;
    return it->second;
}

DecodeResult ObjectTables::claim(VkObjectType type, std::uint64_t id) {
    char msg[160];
    if (id == 0) [[unlikely]] {
        std::snprintf(msg, sizeof(msg), "cannot create a %s with object id 0 (VK_NULL_HANDLE)",
                      object_type_name(type).c_str());
        return m_fatal->fail(msg);
    }
    auto [it, inserted] = m_types.try_emplace(id, type);
    if (!inserted) [[unlikely]] {
        std::snprintf(msg, sizeof(msg), "cannot create a %s with object id 0x%llx: in use by a %s",
                      object_type_name(type).c_str(), as_ull(id),
                      object_type_name(it->second).c_str());
        return m_fatal->fail(msg);
    }
    return DecodeResult::Ok;
}

DecodeResult ObjectTables::fail_lookup(VkObjectType expected, std::uint64_t id) const {
    char msg[160];
    const std::string want = object_type_name(expected);
    if (id == 0) {
        std::snprintf(msg, sizeof(msg), "object id 0 (VK_NULL_HANDLE) where a %s is required",
                      want.c_str());
    } else if (auto actual = type_of(id)) {
        std::snprintf(msg, sizeof(msg), "object id 0x%llx is a %s, not a %s", as_ull(id),
                      object_type_name(*actual).c_str(), want.c_str());
    } else {
        std::snprintf(msg, sizeof(msg), "unknown %s id 0x%llx", want.c_str(), as_ull(id));
    }
    return m_fatal->fail(msg);
}

DecodeResult ObjectTables::fail_untracked(VkObjectType type, std::uint64_t id) const {
    char msg[160];
    std::snprintf(msg, sizeof(msg), "object id 0x%llx has an untracked type (%s)", as_ull(id),
                  object_type_name(type).c_str());
    return m_fatal->fail(msg);
}

} // namespace vn::decoder
