// The physical floor every durable-write figure is compared with (DESIGN.md §8): raw SQLite
// inserts, one transaction each, one connection, with the store's pragmas (exclusive locking,
// WAL, synchronous=FULL) and table shape. Shared so every benchmark measures the same floor.
#pragma once

#include <chrono>
#include <string>

namespace tug::bench {

// Inserts `value` under fresh keys into a new database at `path` for `duration`; returns
// inserts per second (0 on a SQLite error, which is printed to stderr).
double RawSqliteInsertsPerSec(const std::string& path, const std::string& value,
                              std::chrono::milliseconds duration = std::chrono::seconds(3));

}  // namespace tug::bench
