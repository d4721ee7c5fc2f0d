#include "startup_code.h"

#include "proc_maps.h"
#include "vn/os/unique_fd.h"

#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 // Linux 5.14; older C libraries lack the name
#endif

namespace vn::server {

namespace {

bool inside(const std::vector<AddressRange>& objects, const MapsEntry& vma) {
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
    const bool complete = for_each_mapping([&](const MapsEntry& vma) {
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
