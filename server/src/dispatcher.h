#pragma once
// The control protocol as a table: each op has one row {op, expected_size, max_fds, handler}, and a
// request is checked against its row before any handler runs. Unknown ops, size mismatches and
// excess fds never reach handler code (render_client.c / render_context.c dispatch tables).
#include "vn/os/unique_fd.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace vn::server {

template <typename Op, typename Target>
struct DispatchRow {
    using Handler = bool (Target::*)(std::span<const std::byte> request,
                                     std::vector<os::UniqueFd>& fds);
    Op op;
    std::size_t expected_size;
    std::size_t max_fds;
    Handler handler;
    const char* name;
};

template <typename Op, typename Target, std::size_t N>
class Dispatcher {
  public:
    using Row = DispatchRow<Op, Target>;

    explicit Dispatcher(std::array<Row, N> rows) : m_rows(rows) {
        // The table is indexed by op value; a hole or a misordered row is a programming error.
        for (std::size_t i = 0; i < N; ++i) {
            if (static_cast<std::size_t>(m_rows[i].op) != i)
                std::abort();
        }
    }

    // Returns the row for a well-formed request, or nullptr with `error` describing the reason.
    const Row* check(std::span<const std::byte> request, std::size_t fd_count,
                     std::string& error) const {
        if (request.size() < sizeof(std::uint32_t)) {
            error = "request of " + std::to_string(request.size()) + " bytes has no op header";
            return nullptr;
        }
        std::uint32_t op;
        std::memcpy(&op, request.data(), sizeof(op));
        if (op >= N) {
            error = "unknown op " + std::to_string(op);
            return nullptr;
        }
        const Row& row = m_rows[op];
        if (request.size() != row.expected_size) {
            error = std::string("op ") + row.name + ": size " + std::to_string(request.size()) +
                    ", expected " + std::to_string(row.expected_size);
            return nullptr;
        }
        if (fd_count > row.max_fds) {
            error = std::string("op ") + row.name + ": " + std::to_string(fd_count) +
                    " fds, at most " + std::to_string(row.max_fds);
            return nullptr;
        }
        return &row;
    }

  private:
    std::array<Row, N> m_rows;
};

// Copies a checked request out of the receive buffer; the dispatcher guarantees the size.
template <typename T>
T request_as(std::span<const std::byte> request) {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    std::memcpy(&value, request.data(), sizeof(T));
    return value;
}

} // namespace vn::server
