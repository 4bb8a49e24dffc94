#include "images.h"

#include <cstdio>
#include <iostream>
#include <sstream>

#include "runtime/image/digest.h"
#include "runtime/image/image_store.h"
#include "runtime/image/reference.h"

namespace tug::cmd {
namespace {

namespace img = tug::runtime::image;

constexpr const char* kUsage =
    "Usage: tug images <command> [flags]\n"
    "\n"
    "Commands:\n"
    "  import FILE...   load `docker save` tarballs or OCI layout archives (names from the archive)\n"
    "  pull REF         pull an image from its registry (mirrors from <data-dir>/registries.yaml)\n"
    "  ls               list images\n"
    "  rm REF|ID...     remove images (a name removes that name; an id the whole image)\n"
    "\n"
    "Flags:\n"
    "  --data-dir DIR        node data directory (default /var/lib/tug)\n"
    "  --base-name REPO      import: repository for OCI images named only by a tag\n"
    "  --platform OS/ARCH    pull: platform to pick from a manifest list (default: this machine)\n"
    "  --creds USER:PASS     pull: registry credentials\n"
    "  -q                    ls: print image ids only\n";

std::string HumanSize(int64_t b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.3g%s", v, units[u]);
  return buf;
}

void PrintTable(const std::vector<img::ImageInfo>& images) {
  std::vector<std::vector<std::string>> rows = {{"IMAGE", "TAG", "IMAGE ID", "SIZE"}};
  for (const auto& i : images) {
    std::string id = img::DigestHex(i.id).substr(0, 12);
    std::vector<std::string> names = i.repo_tags;
    if (names.empty()) names.push_back("<none>:<none>");
    for (const auto& n : names) {
      auto colon = n.rfind(':');
      std::string repo = n.substr(0, colon), tag = n.substr(colon + 1);
      rows.push_back({repo, tag, id, HumanSize(i.size)});
    }
  }
  std::vector<size_t> w(4, 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < 4; ++c) w[c] = std::max(w[c], r[c].size());
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < 4; ++c) {
      line += r[c];
      if (c < 3) line += std::string(w[c] - r[c].size() + 3, ' ');
    }
    std::cout << line << "\n";
  }
}

}  // namespace

int RunImages(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? std::cerr : std::cout) << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string sub = args[0];
  std::string data_dir = "/var/lib/tug", base_name, creds;
  img::Platform platform = img::Platform::Host();
  bool quiet = false;
  std::vector<std::string> pos;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag, std::string* out) {
      if (a == flag) {
        if (i + 1 >= args.size()) return false;
        *out = args[++i];
        return true;
      }
      if (a.rfind(flag + "=", 0) == 0) {
        *out = a.substr(flag.size() + 1);
        return true;
      }
      return false;
    };
    std::string plat;
    if (value("--data-dir", &data_dir) || value("--base-name", &base_name) || value("--creds", &creds)) continue;
    if (value("--platform", &plat)) {
      std::vector<std::string> parts;
      std::stringstream ss(plat);
      for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
      if (parts.size() < 2 || parts.size() > 3) {
        std::cerr << "tug images: --platform wants OS/ARCH[/VARIANT]\n";
        return 2;
      }
      platform = {parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
      continue;
    }
    if (a == "-q" || a == "--quiet") {
      quiet = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (!a.empty() && a[0] == '-') {
      std::cerr << "tug images: unknown flag: " << a << " (see 'tug images --help')\n";
      return 2;
    }
    pos.push_back(a);
  }
  img::ImageStoreOptions opts;
  opts.registry.platform = platform;
  auto opened = img::OpenImageStore(data_dir, std::move(opts));
  if (!opened.ok()) {
    std::cerr << "tug images: " << opened.status().message() << "\n";
    return 1;
  }
  img::ImageStore& store = **opened;

  if (sub == "import" || sub == "load") {
    if (pos.empty()) {
      std::cerr << "tug images import: no archive given\n";
      return 2;
    }
    int rc = 0;
    for (const auto& f : pos) {
      auto got = store.Import(f, img::ImportOptions{base_name});
      if (!got.ok()) {
        std::cerr << "tug images import: " << f << ": " << got.status().message() << "\n";
        rc = 1;
        continue;
      }
      for (const auto& i : *got) {
        std::cout << "imported " << (i.repo_tags.empty() ? "<none>" : i.repo_tags.front()) << " ("
                  << i.id.substr(0, 19) << ", " << HumanSize(i.size) << ")\n";
      }
    }
    return rc;
  }
  if (sub == "pull") {
    if (pos.size() != 1) {
      std::cerr << "tug images pull: want exactly one image reference\n";
      return 2;
    }
    img::PullOptions po;
    if (!creds.empty()) {
      auto ref = img::ParseReference(pos[0]);
      if (!ref.ok()) {
        std::cerr << "tug images pull: " << ref.status().message() << "\n";
        return 2;
      }
      auto colon = creds.find(':');
      img::Credentials c{creds.substr(0, colon), colon == std::string::npos ? "" : creds.substr(colon + 1), ""};
      po.keyring[ref->domain] = c;
    }
    auto got = store.Pull(pos[0], po);
    if (!got.ok()) {
      std::cerr << "tug images pull: " << got.status().message() << "\n";
      return 1;
    }
    auto pulled = img::ParseReference(pos[0]);
    std::cout << "pulled " << (pulled.ok() ? pulled->String() : pos[0]) << " (" << got->id.substr(0, 19)
              << ", " << HumanSize(got->size) << ")\n";
    return 0;
  }
  if (sub == "ls" || sub == "list") {
    auto list = store.List();
    if (!list.ok()) {
      std::cerr << "tug images ls: " << list.status().message() << "\n";
      return 1;
    }
    if (quiet) {
      for (const auto& i : *list) std::cout << i.id << "\n";
    } else {
      PrintTable(*list);
    }
    return 0;
  }
  if (sub == "rm" || sub == "remove" || sub == "rmi") {
    if (pos.empty()) {
      std::cerr << "tug images rm: no image given\n";
      return 2;
    }
    int rc = 0;
    for (const auto& r : pos) {
      Status st = store.Remove(r);
      if (!st.ok()) {
        std::cerr << "tug images rm: " << st.message() << "\n";
        rc = 1;
      } else {
        std::cout << "removed " << r << "\n";
      }
    }
    return rc;
  }
  std::cerr << "tug images: unknown command \"" << sub << "\" (see 'tug images --help')\n";
  return 2;
}

}  // namespace tug::cmd
