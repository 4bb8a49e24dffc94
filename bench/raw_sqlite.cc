#include "raw_sqlite.h"

#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace tug::bench {
namespace {

using Clock = std::chrono::steady_clock;

bool Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite: %s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    return false;
  }
  return true;
}

}  // namespace

double RawSqliteInsertsPerSec(const std::string& path, const std::string& value,
                              std::chrono::milliseconds duration) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 0;
  if (!Exec(db, "PRAGMA locking_mode=EXCLUSIVE") || !Exec(db, "PRAGMA journal_mode=WAL") ||
      !Exec(db, "PRAGMA synchronous=FULL") ||
      !Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB)") ||
      !Exec(db, "CREATE INDEX t_key ON t(key, id)")) {
    sqlite3_close(db);
    return 0;
  }
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t(id, key, value) VALUES(?,?,?)", -1, &ins, nullptr);
  int64_t n = 0;
  auto start = Clock::now();
  while (Clock::now() - start < duration) {
    std::string key = "/registry/pods/default/p" + std::to_string(n);
    Exec(db, "BEGIN");
    sqlite3_bind_int64(ins, 1, n + 1);
    sqlite3_bind_blob(ins, 2, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(ins, 3, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) break;
    sqlite3_reset(ins);
    Exec(db, "COMMIT");
    ++n;
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return static_cast<double>(n) / secs;
}

}  // namespace tug::bench
