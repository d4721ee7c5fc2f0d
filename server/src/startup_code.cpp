#include "startup_code.h"

#include "vn/os/unique_fd.h"

#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 // Linux 5.14; older C libraries lack the name
#endif

namespace vn::server {

namespace {

// One line of /proc/self/maps, as far as this file needs it.
struct Vma {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    char perms[5] = {};
    std::string_view path; // into the line
};

bool parse_vma(std::string_view line, Vma& vma) {
    unsigned long start = 0, end = 0;
    int path_at = -1;
    // The line is NUL-terminated by the caller (read_maps).
    if (std::sscanf(line.data(), "%lx-%lx %4s %*s %*s %*s %n", &start, &end, vma.perms, &path_at) <
            3 ||
        path_at < 0)
        return false;
    vma.start = start;
    vma.end = end;
    vma.path = line.substr(static_cast<std::size_t>(path_at));
    return true;
}

// Calls `each` with every mapping of this process. Without the heap: the zygote's allocations are
// the pages each of its forks would copy on its own first allocations (a spare's reuse the
// zygote's freed blocks), and a std::ifstream of /proc/self/maps left a dozen such pages.
template <typename Each>
bool read_maps(Each&& each) {
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
        for (std::size_t i = begin; i < used; ++i) {
            if (buffer[i] != '\n')
                continue;
            buffer[i] = '\0';
            Vma vma;
            if (parse_vma(std::string_view(buffer.data() + begin, i - begin), vma))
                each(vma);
            begin = i + 1;
        }
        if (begin == 0 && used == buffer.size() - 1)
            return false; // a line longer than the buffer: not /proc/self/maps as we know it
        std::memmove(buffer.data(), buffer.data() + begin, used - begin);
        used -= begin;
    }
}

bool inside(const std::vector<AddressRange>& objects, const Vma& vma) {
    return std::any_of(objects.begin(), objects.end(), [&](const AddressRange& r) {
        return vma.start >= r.start && vma.end <= r.end;
    });
}

} // namespace

std::vector<AddressRange> startup_objects() {
    std::vector<AddressRange> out;
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) {
            // The vDSO is the kernel's, not a file: it has a name but no path.
            const char* name = info->dlpi_name;
            if (name && name[0] && name[0] != '/')
                return 0;
            const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
            AddressRange r{UINTPTR_MAX, 0};
            for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD)
                    continue;
                const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
                r.start = std::min(r.start, begin & ~(page - 1));
                r.end = std::max(r.end, (begin + ph.p_memsz + page - 1) & ~(page - 1));
            }
            if (r.end > r.start)
                static_cast<std::vector<AddressRange>*>(data)->push_back(r);
            return 0;
        },
        &out);
    return out;
}

MappedCode map_code_for_forks(const std::vector<AddressRange>& objects, std::string& error) {
    MappedCode mapped;
    os::UniqueFd mem(::open("/proc/self/mem", O_RDWR | O_CLOEXEC));
    if (!mem) {
        error = std::string("/proc/self/mem: ") + std::strerror(errno);
        return mapped;
    }
    const bool complete = read_maps([&](const Vma& vma) {
        // Code and read-only data of a file, private: what fork() leaves to page faults. The
        // server's shared RELRO copies (memfds) are left out on purpose (shared_relro.h).
        const std::string_view perms(vma.perms);
        if ((perms != "r-xp" && perms != "r--p") || !vma.path.starts_with('/') ||
            vma.path.starts_with("/memfd:") || !inside(objects, vma))
            return;
        // The byte it holds, written back: the page becomes this process's own copy, and with
        // it the mapping one that fork() copies.
        // NOLINTNEXTLINE(performance-no-int-to-ptr): an address the kernel listed
        auto* const at = reinterpret_cast<unsigned char*>(vma.start);
        const unsigned char byte = *static_cast<const volatile unsigned char*>(at);
        if (::pwrite(mem.get(), &byte, 1, static_cast<off_t>(vma.start)) != 1) {
            if (error.empty())
                error = std::string(vma.path) + ": /proc/self/mem: " + std::strerror(errno);
            return;
        }
        // Without MADV_POPULATE_READ (Linux < 5.14) fork() still copies what the process has
        // run, only less of it.
        (void)::madvise(at, vma.end - vma.start, MADV_POPULATE_READ);
        ++mapped.mappings;
        mapped.bytes += vma.end - vma.start;
    });
    if (!complete && error.empty())
        error = "cannot read /proc/self/maps";
    return mapped;
}

} // namespace vn::server
