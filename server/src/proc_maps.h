#pragma once
// This process's mappings, read from /proc/self/maps without the heap, for the code that lays out
// the server's and the zygote's memory (shared_relro.h, startup_code.h). Without the heap because
// the zygote's allocations are pages each of its forks copies on its own first allocations (a
// spare's reuse the zygote's freed blocks): a std::ifstream of /proc/self/maps left a dozen.
#include "vn/os/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace vn::server {

// One line of /proc/self/maps, as far as the server needs it.
struct MapsEntry {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    char perms[5] = {};    // "r-xp" and the like
    std::string_view path; // into the line: valid during the callback only
};

namespace detail {

// `line` is NUL-terminated (for_each_mapping makes it so).
inline bool parse_maps_line(std::string_view line, MapsEntry& entry) {
    unsigned long start = 0, end = 0;
    int path_at = -1;
    if (std::sscanf(line.data(), "%lx-%lx %4s %*s %*s %*s %n", &start, &end, entry.perms,
                    &path_at) < 3 ||
        path_at < 0)
        return false;
    entry.start = start;
    entry.end = end;
    entry.path = line.substr(static_cast<std::size_t>(path_at));
    return true;
}

} // namespace detail

// Calls `each(const MapsEntry&)` with every mapping of this process, in address order. False
// where the file cannot be read through.
template <typename Each>
bool for_each_mapping(Each&& each) {
    os::UniqueFd maps(::open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
    if (!maps)
        return false;
    std::array<char, 16384> buffer; // many lines; a line is at most PATH_MAX and some
    std::size_t used = 0;
    for (;;) {
        const ssize_t n = ::read(maps.get(), buffer.data() + used, buffer.size() - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0;
        used += static_cast<std::size_t>(n);
        std::size_t begin = 0;
        for (std::size_t i = 0; i < used; ++i) {
            if (buffer[i] != '\n')
                continue;
            buffer[i] = '\0';
            MapsEntry entry;
            if (detail::parse_maps_line(std::string_view(buffer.data() + begin, i - begin), entry))
                each(entry);
            begin = i + 1;
        }
        if (begin == 0 && used == buffer.size() - 1)
            return false; // a line longer than the buffer: not /proc/self/maps as we know it
        std::memmove(buffer.data(), buffer.data() + begin, used - begin);
        used -= begin;
    }
}

} // namespace vn::server
