#pragma once
// The /proc/self/smaps entry of one address, for tests of the server's process layout.
#include <cstdint>
#include <fstream>
#include <string>

namespace vn::test {

struct SmapsEntry {
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    std::string header; // its maps line
    long rss_kib = -1;  // -1: no mapping holds the address
};

inline SmapsEntry smaps_entry_at(std::uintptr_t address) {
    std::ifstream smaps("/proc/self/smaps");
    std::string line;
    SmapsEntry entry;
    bool inside = false;
    while (std::getline(smaps, line)) {
        const auto dash = line.find('-');
        const auto space = line.find(' ');
        if (dash != std::string::npos && space != std::string::npos && dash < space &&
            line.find_first_not_of("0123456789abcdef") == dash) {
            const std::uintptr_t start = std::stoull(line.substr(0, dash), nullptr, 16);
            const std::uintptr_t end =
                std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
            inside = address >= start && address < end;
            if (inside)
                entry = {start, end, line, -1};
        } else if (inside && line.rfind("Rss:", 0) == 0) {
            entry.rss_kib = std::stol(line.substr(4));
            return entry;
        }
    }
    return {};
}

} // namespace vn::test
