// CrashVfs: a SQLite VFS for tests that simulates power loss (CONVENTIONS C11: "a storage test
// environment can drop unsynced writes").
//
// It wraps the default VFS. Writes are held in memory per file and reach the real file only
// when SQLite syncs that file. Crash() makes every later write, sync, truncate and delete a
// no-op, so whatever was not synced before it is lost, exactly as after a power cut. After the
// store using it is closed, reopen the file with the default VFS to see what survived.
//
// Simplification: a truncate applies pending writes and truncates at once (SQLite truncates
// only around syncs, so this does not hide missing syncs of data).
//
// Ownership: register once per name; the VFS lives until Unregister (the destructor).
// Thread-safety: one store (one writer thread) per CrashVfs; Crash() may be called from any
// thread.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace tug::store::testing {

class CrashVfs {
 public:
  explicit CrashVfs(std::string name) : name_(std::move(name)) {
    real_ = sqlite3_vfs_find(nullptr);
    std::memset(&vfs_, 0, sizeof vfs_);
    vfs_.iVersion = 1;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.mxPathname = real_->mxPathname;
    vfs_.zName = name_.c_str();
    vfs_.pAppData = this;
    vfs_.xOpen = &Open;
    vfs_.xDelete = &Delete;
    vfs_.xAccess = [](sqlite3_vfs* v, const char* n, int f, int* out) { return Real(v)->xAccess(Real(v), n, f, out); };
    vfs_.xFullPathname = [](sqlite3_vfs* v, const char* n, int sz, char* out) {
      return Real(v)->xFullPathname(Real(v), n, sz, out);
    };
    vfs_.xDlOpen = [](sqlite3_vfs* v, const char* n) { return Real(v)->xDlOpen(Real(v), n); };
    vfs_.xDlError = [](sqlite3_vfs* v, int n, char* m) { Real(v)->xDlError(Real(v), n, m); };
    vfs_.xDlSym = [](sqlite3_vfs* v, void* h, const char* s) { return Real(v)->xDlSym(Real(v), h, s); };
    vfs_.xDlClose = [](sqlite3_vfs* v, void* h) { Real(v)->xDlClose(Real(v), h); };
    vfs_.xRandomness = [](sqlite3_vfs* v, int n, char* out) { return Real(v)->xRandomness(Real(v), n, out); };
    vfs_.xSleep = [](sqlite3_vfs* v, int us) { return Real(v)->xSleep(Real(v), us); };
    vfs_.xCurrentTime = [](sqlite3_vfs* v, double* t) { return Real(v)->xCurrentTime(Real(v), t); };
    vfs_.xGetLastError = [](sqlite3_vfs* v, int n, char* m) { return Real(v)->xGetLastError(Real(v), n, m); };
    sqlite3_vfs_register(&vfs_, 0);
  }
  ~CrashVfs() { sqlite3_vfs_unregister(&vfs_); }
  CrashVfs(const CrashVfs&) = delete;
  CrashVfs& operator=(const CrashVfs&) = delete;

  const std::string& name() const { return name_; }
  void Crash() { crashed_ = true; }
  int64_t syncs() const { return syncs_; }

 private:
  struct File {
    sqlite3_file base;
    CrashVfs* vfs;
    std::vector<std::pair<int64_t, std::string>>* pending;  // unsynced writes, in order
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
  };

  static sqlite3_vfs* Real(sqlite3_vfs* v) { return static_cast<CrashVfs*>(v->pAppData)->real_; }
  static File* F(sqlite3_file* f) { return reinterpret_cast<File*>(f); }

  static int Open(sqlite3_vfs* v, const char* name, sqlite3_file* file, int flags, int* out_flags) {
    CrashVfs* self = static_cast<CrashVfs*>(v->pAppData);
    File* f = F(file);
    f->base.pMethods = nullptr;
    int rc = self->real_->xOpen(self->real_, name, f->real(), flags, out_flags);
    if (rc != SQLITE_OK || f->real()->pMethods == nullptr) return rc;
    f->vfs = self;
    f->pending = new std::vector<std::pair<int64_t, std::string>>();
    f->base.pMethods = &kMethods;
    return SQLITE_OK;
  }
  static int Delete(sqlite3_vfs* v, const char* name, int sync_dir) {
    if (static_cast<CrashVfs*>(v->pAppData)->crashed_) return SQLITE_OK;
    return Real(v)->xDelete(Real(v), name, sync_dir);
  }

  static int64_t RealSize(File* f) {
    sqlite3_int64 n = 0;
    f->real()->pMethods->xFileSize(f->real(), &n);
    return n;
  }
  static int Flush(File* f) {
    for (auto& [off, data] : *f->pending) {
      int rc = f->real()->pMethods->xWrite(f->real(), data.data(), static_cast<int>(data.size()), off);
      if (rc != SQLITE_OK) return rc;
    }
    f->pending->clear();
    return SQLITE_OK;
  }

  static int Close(sqlite3_file* file) {
    File* f = F(file);
    delete f->pending;  // unsynced writes never reach the disk
    f->pending = nullptr;
    return f->real()->pMethods->xClose(f->real());
  }
  static int Read(sqlite3_file* file, void* buf, int amt, sqlite3_int64 off) {
    File* f = F(file);
    std::memset(buf, 0, static_cast<size_t>(amt));
    int64_t size = RealSize(f);
    if (off < size) {
      int n = static_cast<int>(std::min<int64_t>(amt, size - off));
      int rc = f->real()->pMethods->xRead(f->real(), buf, n, off);
      if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
    }
    for (auto& [woff, data] : *f->pending) {
      int64_t lo = std::max<int64_t>(off, woff), hi = std::min<int64_t>(off + amt, woff + static_cast<int64_t>(data.size()));
      if (lo < hi) std::memcpy(static_cast<char*>(buf) + (lo - off), data.data() + (lo - woff), static_cast<size_t>(hi - lo));
      size = std::max<int64_t>(size, woff + static_cast<int64_t>(data.size()));
    }
    return off + amt <= size ? SQLITE_OK : SQLITE_IOERR_SHORT_READ;
  }
  static int Write(sqlite3_file* file, const void* buf, int amt, sqlite3_int64 off) {
    File* f = F(file);
    if (f->vfs->crashed_) return SQLITE_OK;
    f->pending->emplace_back(off, std::string(static_cast<const char*>(buf), static_cast<size_t>(amt)));
    return SQLITE_OK;
  }
  static int Truncate(sqlite3_file* file, sqlite3_int64 size) {
    File* f = F(file);
    if (f->vfs->crashed_) return SQLITE_OK;
    int rc = Flush(f);
    if (rc != SQLITE_OK) return rc;
    return f->real()->pMethods->xTruncate(f->real(), size);
  }
  static int Sync(sqlite3_file* file, int flags) {
    File* f = F(file);
    if (f->vfs->crashed_) return SQLITE_OK;
    int rc = Flush(f);
    if (rc != SQLITE_OK) return rc;
    ++f->vfs->syncs_;
    return f->real()->pMethods->xSync(f->real(), flags);
  }
  static int FileSize(sqlite3_file* file, sqlite3_int64* out) {
    File* f = F(file);
    int64_t size = RealSize(f);
    for (auto& [woff, data] : *f->pending) size = std::max<int64_t>(size, woff + static_cast<int64_t>(data.size()));
    *out = size;
    return SQLITE_OK;
  }
  static int Lock(sqlite3_file* f, int l) { return F(f)->real()->pMethods->xLock(F(f)->real(), l); }
  static int Unlock(sqlite3_file* f, int l) { return F(f)->real()->pMethods->xUnlock(F(f)->real(), l); }
  static int CheckReserved(sqlite3_file* f, int* out) {
    return F(f)->real()->pMethods->xCheckReservedLock(F(f)->real(), out);
  }
  static int FileControl(sqlite3_file* f, int op, void* arg) {
    return F(f)->real()->pMethods->xFileControl(F(f)->real(), op, arg);
  }
  static int SectorSize(sqlite3_file* f) { return F(f)->real()->pMethods->xSectorSize(F(f)->real()); }
  static int DeviceCharacteristics(sqlite3_file* f) {
    return F(f)->real()->pMethods->xDeviceCharacteristics(F(f)->real());
  }

  static constexpr sqlite3_io_methods kMethods = {
      1, &Close, &Read, &Write, &Truncate, &Sync, &FileSize, &Lock, &Unlock, &CheckReserved, &FileControl,
      &SectorSize, &DeviceCharacteristics, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};

  std::string name_;
  sqlite3_vfs* real_ = nullptr;
  sqlite3_vfs vfs_;
  std::atomic<bool> crashed_{false};
  std::atomic<int64_t> syncs_{0};
};

}  // namespace tug::store::testing
