// api::printers — Table columns and rows for every built-in kind, with upstream's column
// sets (names, types, priorities) and cell computations (kubectl get output). Rows always
// carry every column, priority-1 ("-o wide") ones included, as the upstream API server does;
// kubectl hides priority-1 columns itself. Cells are JSON values: strings, and numbers/booleans
// where upstream emits int64/bool cells.
//
// Ownership: the tables are immutable process-wide statics built on first use.
// Thread-safety: lookups and row functions are reentrant.
#pragma once

#include <string_view>
#include <vector>

#include "api/strategy.h"
#include "base/clock.h"
#include "base/json.h"

namespace tug::api::printers {

using RowFn = Json (*)(const Json& obj, SystemTime now);

struct TableDef {
  std::vector<TableColumn> columns;
  RowFn row = nullptr;
};

// The table of a built-in kind ("" = core group), or nullptr when tug has none for it.
const TableDef* TableFor(std::string_view group, std::string_view kind);

// Column helpers (descriptions are tug's own text).
TableColumn NameColumn();
TableColumn AgeColumn();
TableColumn Column(std::string name, std::string type, std::string description, int priority = 0);
// The upstream default table for kinds without a printer: Name, Created At (date).
std::vector<TableColumn> CreatedAtColumns();
Json CreatedAtRow(const Json& obj, SystemTime now);

// Registration of each group's tables (one file per family).
using TableMap = std::vector<std::pair<std::pair<std::string_view, std::string_view>, TableDef>>;
void AddCoreTables(TableMap& m);
void AddWorkloadTables(TableMap& m);
void AddOtherTables(TableMap& m);

// Exposed for tests and strategies: the pod STATUS cell and the READY cell.
std::string PodStatusReason(const Json& pod);

}  // namespace tug::api::printers
