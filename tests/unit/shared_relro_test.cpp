// The server's RELRO sharing (server/src/shared_relro.h), on this test process itself: the moved
// segments keep their address and bytes, the program keeps running on them, and a fork no longer
// copies them.
#include "shared_relro.h"
#include "smaps_entry.h"

#include <catch2/catch.hpp>
#include <dlfcn.h>
#include <link.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Range {
    std::uintptr_t start;
    std::uintptr_t end;
};

// Every loaded object's whole-page RELRO range, by object name.
std::map<std::string, Range> relro_ranges() {
    std::map<std::string, Range> out;
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) {
            const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
            for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                // Libraries only, as the server moves (an instrumented program's globals have
                // redzones).
                if (ph.p_type != PT_GNU_RELRO || !info->dlpi_name || !info->dlpi_name[0])
                    continue;
                const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
                const Range r{begin & ~(page - 1), (begin + ph.p_memsz) & ~(page - 1)};
                if (r.end > r.start)
                    (*static_cast<std::map<std::string, Range>*>(data))[info->dlpi_name] = r;
            }
            return 0;
        },
        &out);
    return out;
}

std::string base_name(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

TEST_CASE("relocated read-only data moves to shared memory with its address and bytes",
          "[shared_relro]") {
    // A library this process does not otherwise use, so that nothing touches its pages in the
    // child below; the Vulkan loader is there wherever this builds.
    void* loader = ::dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    REQUIRE(loader);

    const auto before = relro_ranges();
    std::map<std::string, std::vector<char>> bytes;
    for (const auto& [name, r] : before)
        bytes[name].assign(reinterpret_cast<const char*>(r.start),
                           reinterpret_cast<const char*>(r.end));

    std::string error;
    const auto moved = vn::server::share_relocated_read_only_data(1, error);
    INFO(error);
    CHECK(error.empty());
    std::string loader_path;
    for (const auto& m : moved)
        if (m.object.find("libvulkan.so") != std::string::npos)
            loader_path = m.object;
    REQUIRE(!loader_path.empty());
    CHECK(moved.size() >= 2); // libstdc++'s too

    for (const auto& m : moved) {
        INFO(m.object);
        const Range r = before.at(m.object);
        CHECK(m.bytes == r.end - r.start);
        const auto entry = vn::test::smaps_entry_at(r.start);
        const std::string& header = entry.header;
        CHECK(header.find(" r--p ") != std::string::npos);
        CHECK(header.find("vn-relro:" + base_name(m.object)) != std::string::npos);
        CHECK(std::memcmp(reinterpret_cast<const void*>(r.start), bytes[m.object].data(),
                          bytes[m.object].size()) == 0);
    }

    // The program still runs on them: exceptions and virtual calls go through libstdc++'s RELRO
    // (typeinfo, vtables), the loader's entry points through its GOT.
    CHECK_THROWS_AS(throw std::runtime_error("still here"), std::runtime_error);
    CHECK(::dlsym(loader, "vkGetInstanceProcAddr") != nullptr);

    // Nothing is left to move.
    std::string again_error;
    CHECK(vn::server::share_relocated_read_only_data(1, again_error).empty());

    // A forked child inherits the mapping without its page table entries: none of the loader's
    // RELRO is resident in it until it reads it.
    const Range loader_range = before.at(loader_path);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const long rss = vn::test::smaps_entry_at(loader_range.start).rss_kib;
        ::_exit(rss == 0 ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    ::dlclose(loader);
}

TEST_CASE("segments under the size given stay where the linker put them", "[shared_relro]") {
    std::string error;
    // Nothing spans a terabyte.
    CHECK(vn::server::share_relocated_read_only_data(std::size_t{1} << 40, error).empty());
    CHECK(error.empty());
}
