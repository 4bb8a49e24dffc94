#!/usr/bin/env python3
"""schemagen: derives tug's built-in schema (src/api/schema/kube.json) from the upstream
Kubernetes interface definitions.

Inputs (read with `git show <ref>:<path>` from local bare mirrors):
  kubernetes/api            <group>/<version>/generated.proto and *.go (types.go ...)
  kubernetes/apimachinery   pkg/apis/meta/v1/generated.proto and *.go
From generated.proto: messages, field JSON names, protobuf numbers, repeated/map, and the
comment markers (+listType, +listMapKey, +patchMergeKey, +patchStrategy, +optional,
+required, +mapType, +structType). From the Go sources: json tags (omitempty, inline),
TypeMeta embedding (which structs are kinds), +enum string types and their constants, and
`type X []T` wrappers. Resource facts come from resources.py, descriptions from
descriptions.py (tug's own words; upstream descriptions are never copied).

Usage: tools/schemagen/schemagen.py [--mirror DIR] [--ref release-1.33] [--out FILE | --check FILE]
Stdlib only. Output is deterministic.
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import descriptions  # noqa: E402
import resources  # noqa: E402

FORMAT_VERSION = 1

SCALAR_MESSAGES = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "microtime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "duration",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": "quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intstr",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "raw",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "json",
    # apiextensions: JSON schemas and free-form JSON values stay JSON documents.
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON": "json",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps": "json",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "json",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "json",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": "json",
}
PROTO_SCALARS = {
    "string": "string", "bytes": "bytes", "bool": "bool", "int32": "int32", "int64": "int64",
    "double": "double", "float": "double", "uint32": "int64", "uint64": "int64",
    "sint32": "int32", "sint64": "int64", "fixed32": "int64", "fixed64": "int64",
}
META_PKG = "k8s.io.apimachinery.pkg.apis.meta.v1"
# Types that exist only in Go (no protobuf message), built from their Go struct with no
# protobuf numbers.
GO_ONLY_META = ["Table", "TableColumnDefinition", "TableRow", "TableRowCondition"]


class Mirror:
    def __init__(self, root, ref):
        self.root, self.ref = root, ref
        self.repos = {
            "api": os.path.join(root, "kubernetes+api", "repo"),
            "apimachinery": os.path.join(root, "kubernetes+apimachinery", "repo"),
            "apiextensions-apiserver": os.path.join(root, "kubernetes+apiextensions-apiserver", "repo"),
        }

    def show(self, repo, path):
        return subprocess.run(["git", "-C", self.repos[repo], "show", f"{self.ref}:{path}"],
                              check=True, capture_output=True, text=True).stdout

    def ls(self, repo, folder):
        out = subprocess.run(["git", "-C", self.repos[repo], "ls-tree", "--name-only",
                              f"{self.ref}:{folder}"], check=True, capture_output=True,
                             text=True).stdout
        return [l for l in out.splitlines() if l]


# ---------------------------------------------------------------------------------------------
# generated.proto

MARKER_RE = re.compile(r"^\s*//\s*\+([\w.]+)(?:=(.*))?$")
FIELD_RE = re.compile(r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)")
MAP_RE = re.compile(r"^\s*map<\s*string\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)")


def markers_of(comment_lines):
    out = {}
    for line in comment_lines:
        m = MARKER_RE.match(line)
        if m:
            out.setdefault(m.group(1), []).append((m.group(2) or "").strip())
    return out


def parse_proto(text):
    """Returns (package, {message: {"markers":{}, "fields":[...]}})."""
    package = re.search(r"^package\s+([\w.]+);", text, re.M).group(1)
    messages, cur, comments = {}, None, []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("//"):
            comments.append(line)
            continue
        if not s:
            comments = []
            continue
        m = re.match(r"^message\s+(\w+)\s*\{", s)
        if m and cur is None:
            cur = {"markers": markers_of(comments), "fields": []}
            messages[m.group(1)] = cur
            comments = []
            continue
        if cur is not None and s == "}":
            cur, comments = None, []
            continue
        if cur is None:
            comments = []
            continue
        fm, mm = FIELD_RE.match(line), MAP_RE.match(line)
        if fm:
            cur["fields"].append({"label": fm.group(1), "type": fm.group(2), "name": fm.group(3),
                                  "tag": int(fm.group(4)), "markers": markers_of(comments)})
        elif mm:
            cur["fields"].append({"label": "map", "type": mm.group(1), "name": mm.group(2),
                                  "tag": int(mm.group(3)), "markers": markers_of(comments)})
        comments = []
    return package, messages


# ---------------------------------------------------------------------------------------------
# Go sources

TAG_RE = re.compile(r'(\w+):"([^"]*)"')


def parse_go_package(mirror, repo, folder):
    """Returns {"structs":{name:{...}}, "enums":{type:[values]}, "lists":{type}, "strings":{type}}."""
    structs, enum_types, consts, lists, strings = {}, set(), {}, set(), set()
    imports = {}
    for fname in mirror.ls(repo, folder):
        if not fname.endswith(".go") or fname.endswith("_test.go"):
            continue
        if fname.startswith("zz_generated") or fname.startswith("generated.pb") or \
                fname.endswith("swagger_doc_generated.go") or "fuzz" in fname:
            continue
        text = mirror.show(repo, f"{folder}/{fname}")
        for alias, path in re.findall(r'^\s*(\w+)?\s*"(k8s\.io/[^"]+)"', text, re.M):
            imports[alias or path.rsplit("/", 1)[-1]] = path
        lines = text.splitlines()
        i, comments, in_const = 0, [], False
        while i < len(lines):
            line = lines[i]
            s = line.strip()
            if s.startswith("//"):
                comments.append(line)
                i += 1
                continue
            m = re.match(r"^type\s+(\w+)\s+struct\s*\{\s*$", line)
            if m:
                name, fields, fcomments = m.group(1), [], []
                i += 1
                depth = 1
                while i < len(lines):
                    fl = lines[i]
                    fs = fl.strip()
                    if fs == "}" and depth == 1:
                        break
                    if fs.startswith("//"):
                        pass
                    elif fs.endswith("{"):
                        depth += 1
                    elif fs.startswith("}"):
                        depth -= 1
                    if fs.startswith("//"):
                        fcomments.append(fl)
                    elif "`" in fs and depth == 1:
                        pre = fs[:fs.index("`")].split()
                        tags = dict(TAG_RE.findall(fs[fs.index("`"):]))
                        if len(pre) == 1:
                            gname, gtype, embedded = pre[0].split(".")[-1].lstrip("*"), pre[0], True
                        else:
                            gname, gtype, embedded = pre[0], "".join(pre[1:]), False
                        fields.append({"go_name": gname, "go_type": gtype, "embedded": embedded,
                                       "tags": tags, "markers": markers_of(fcomments)})
                        fcomments = []
                    elif not fs:
                        fcomments = []
                    i += 1
                structs[name] = {"fields": fields, "markers": markers_of(comments)}
                comments = []
                i += 1
                continue
            m = re.match(r"^type\s+(\w+)\s+(\S+)\s*$", line)
            if m:
                name, under = m.group(1), m.group(2)
                if under == "string":
                    strings.add(name)
                    if any(MARKER_RE.match(c) and "+enum" in c for c in comments):
                        enum_types.add(name)
                elif under.startswith("[]"):
                    lists.add(name)
            if re.match(r"^const\s*\($", s):
                in_const = True
            elif in_const and s == ")":
                in_const = False
            cm = re.match(r'^(?:const\s+)?(\w+)\s+(\w+)\s*=\s*"([^"]*)"', s)
            if cm and (in_const or s.startswith("const")):
                consts.setdefault(cm.group(2), []).append(cm.group(3))
            comments = [] if not s.startswith("//") else comments
            i += 1
    enums = {t: sorted(set(consts.get(t, []))) for t in enum_types if consts.get(t)}
    return {"structs": structs, "enums": enums, "lists": lists, "strings": strings,
            "imports": imports}


def go_elem_type(gtype):
    t = gtype.lstrip("*")
    while t.startswith("[]"):
        t = t[2:].lstrip("*")
    if t.startswith("map["):
        t = t[t.index("]") + 1:].lstrip("*")
        while t.startswith("[]"):
            t = t[2:].lstrip("*")
    return t


# ---------------------------------------------------------------------------------------------

def openapi_name(proto_full):
    assert proto_full.startswith("k8s.io."), proto_full
    return "io.k8s." + proto_full[len("k8s.io."):].replace("apiextensions_apiserver", "apiextensions-apiserver")


def go_path_of_proto_pkg(pkg):
    # k8s.io.api.core.v1 -> ("api", "core/v1"); k8s.io.apimachinery.pkg.apis.meta.v1 -> ...
    if pkg.startswith("k8s.io.api."):
        return "api", pkg[len("k8s.io.api."):].replace(".", "/")
    if pkg.startswith("k8s.io.apimachinery."):
        return "apimachinery", pkg[len("k8s.io.apimachinery."):].replace(".", "/")
    if pkg.startswith("k8s.io.apiextensions_apiserver."):
        return "apiextensions-apiserver", pkg[len("k8s.io.apiextensions_apiserver."):].replace(".", "/")
    raise ValueError(pkg)


def proto_pkg_of_go_import(path):
    # k8s.io/api/core/v1 -> k8s.io.api.core.v1
    return "k8s.io." + path[len("k8s.io/"):].replace("/", ".").replace("-", "_")


class Generator:
    def __init__(self, mirror):
        self.mirror = mirror
        self.protos = {}   # proto package -> messages
        self.gos = {}      # proto package -> go package info
        self.types = {}    # openapi name -> type entry
        self.kinds = []

    def load(self, pkg):
        if pkg in self.protos:
            return
        repo, folder = go_path_of_proto_pkg(pkg)
        _, msgs = parse_proto(self.mirror.show(repo, f"{folder}/generated.proto"))
        self.protos[pkg] = msgs
        self.gos[pkg] = parse_go_package(self.mirror, repo, folder)

    def enum_values(self, pkg, go_type):
        t = go_elem_type(go_type)
        gpkg = pkg
        if "." in t:
            alias, t = t.split(".", 1)
            path = self.gos[pkg]["imports"].get(alias)
            if not path:
                return None
            gpkg = proto_pkg_of_go_import(path)
            if gpkg not in self.gos:
                try:
                    self.load(gpkg)
                except (subprocess.CalledProcessError, ValueError):
                    return None
        return self.gos[gpkg]["enums"].get(t)

    def kind_of_proto_type(self, pkg, ptype):
        ptype = ptype.lstrip(".")
        if ptype in PROTO_SCALARS:
            return PROTO_SCALARS[ptype], None
        full = ptype if "." in ptype else f"{pkg}.{ptype}"
        if full in SCALAR_MESSAGES:
            return SCALAR_MESSAGES[full], None
        tpkg, tname = full.rsplit(".", 1)
        return openapi_name(full), (tpkg, tname)

    def build_type(self, pkg, name, pending):
        oname = openapi_name(f"{pkg}.{name}")
        if oname in self.types:
            return oname
        msg = self.protos[pkg].get(name)
        go = self.gos[pkg]
        struct = go["structs"].get(name, {"fields": [], "markers": {}})
        entry = {"n": oname}
        self.types[oname] = entry
        desc = descriptions.KINDS.get(name)
        if desc:
            entry["d"] = desc
        if name in go["lists"]:
            entry["lw"] = 1
        by_proto = {}
        for gf in struct["fields"]:
            pt = gf["tags"].get("protobuf", "")
            pm = re.search(r"name=(\w+)", pt)
            if pm:
                by_proto[pm.group(1)] = gf
        fields = []
        is_kind = any(gf["embedded"] and gf["go_type"].endswith("TypeMeta") and
                      gf["tags"].get("json", "").startswith(",inline")
                      for gf in struct["fields"])
        if is_kind:
            for fname in ("apiVersion", "kind"):
                fields.append({"n": fname, "t": 0, "k": "string",
                               "d": descriptions.FIELDS[fname]})
        if msg is None:
            # Go-only type: build from the Go struct (no protobuf numbers).
            for gf in struct["fields"]:
                jt = gf["tags"].get("json", "")
                if not jt or jt.startswith(",inline") or jt == "-":
                    continue
                fields.append(self.go_field(pkg, gf, pending))
            entry["f"] = fields
            return oname
        for pf in sorted(msg["fields"], key=lambda f: f["tag"]):
            gf = by_proto.get(pf["name"])
            mk = dict(pf["markers"])
            if gf:
                for k, v in gf["markers"].items():
                    mk.setdefault(k, v)
            f = {"n": pf["name"], "t": pf["tag"]}
            kind, ref = self.kind_of_proto_type(pkg, pf["type"])
            if ref:
                pending.append(ref)
            f["k"] = kind
            if pf["label"] == "repeated":
                f["c"] = "list"
            elif pf["label"] == "map":
                f["c"] = "map"
            jt = gf["tags"].get("json", "") if gf else pf["name"] + ",omitempty"
            jparts = jt.split(",")
            inline = "inline" in jparts[1:]
            omit = "omitempty" in jparts[1:]
            if inline:
                f["in"] = 1
            elif jparts[0]:
                # The JSON name wins where the protobuf name differs (e.g. Variable.Name).
                f["n"] = jparts[0]
            optional = "optional" in mk
            if not inline and ("required" in mk or not (optional or omit)):
                f["req"] = 1
            if not omit and not inline:
                f["oe"] = 0
            # omitempty on a non-pointer Go scalar: the zero value is never encoded upstream.
            if (gf and omit and not inline and "c" not in f and not gf["go_type"].startswith("*")
                    and kind in ("bool", "int32", "int64", "double", "string")):
                f["oz"] = 1
            ps = (mk.get("patchStrategy") or [""])[0] or (gf["tags"].get("patchStrategy", "")
                                                          if gf else "")
            pk = (mk.get("patchMergeKey") or [""])[0] or (gf["tags"].get("patchMergeKey", "")
                                                          if gf else "")
            if ps:
                f["ps"] = ps
            if pk:
                f["pk"] = pk
            if "listType" in mk and f.get("c") == "list":
                f["lt"] = mk["listType"][0]
            if "listMapKey" in mk and f.get("c") == "list":
                f["lk"] = mk["listMapKey"]
            atomic = mk.get("mapType", [""])[0] == "atomic" or \
                mk.get("structType", [""])[0] == "atomic"
            if ref and not atomic:
                tmsg = self.protos.get(ref[0], {}).get(ref[1]) if ref[0] in self.protos else None
                if tmsg is None and ref[0] not in self.protos:
                    self.load(ref[0])
                    tmsg = self.protos[ref[0]].get(ref[1])
                if tmsg and tmsg["markers"].get("structType", [""])[0] == "atomic":
                    atomic = True
            if atomic:
                f["ma"] = 1
            if gf:
                ev = self.enum_values(pkg, gf["go_type"])
                if ev:
                    f["e"] = ev
            d = descriptions.FIELDS.get(f"{name}.{f['n']}")
            if not d and (ref or f["n"] not in descriptions.OBJECT_ONLY):
                d = descriptions.FIELDS.get(f["n"])
            if d:
                f["d"] = d
            fields.append(f)
        entry["f"] = fields
        return oname

    def go_field(self, pkg, gf, pending):
        jt = gf["tags"]["json"].split(",")
        f = {"n": jt[0], "t": 0}
        gt = gf["go_type"].lstrip("*")
        if gt.startswith("[]") and gt != "[]byte":
            f["c"] = "list"
            gt = gt[2:].lstrip("*")
        simple = {"string": "string", "bool": "bool", "int32": "int32", "int64": "int64",
                  "int": "int64", "float64": "double", "[]byte": "bytes",
                  "interface{}": "json", "runtime.RawExtension": "raw"}
        if gt in simple:
            f["k"] = simple[gt]
        elif gt in self.gos[pkg]["strings"]:
            f["k"] = "string"
        elif gt == "ListMeta" or gt in self.gos[pkg]["structs"]:
            f["k"] = openapi_name(f"{pkg}.{gt}")
            pending.append((pkg, gt))
        else:
            raise SystemExit(f"go-only field type {gt} not mapped")
        if "omitempty" not in jt[1:]:
            f["oe"] = 0
            if "optional" not in gf["markers"]:
                f["req"] = 1
        d = descriptions.FIELDS.get(jt[0])
        if d and jt[0] in descriptions.OBJECT_ONLY and f["k"] in simple.values():
            d = None
        if d:
            f["d"] = d
        return f

    def close(self, pending):
        while pending:
            pkg, name = pending.pop()
            self.load(pkg)
            if name not in self.protos[pkg] and name not in self.gos[pkg]["structs"]:
                raise SystemExit(f"unknown type {pkg}.{name}")
            self.build_type(pkg, name, pending)

    def is_kind_struct(self, pkg, name):
        st = self.gos[pkg]["structs"].get(name)
        return st is not None and any(
            gf["embedded"] and gf["go_type"].endswith("TypeMeta") and
            gf["tags"].get("json", "").startswith(",inline") for gf in st["fields"])

    def run(self):
        pending = []
        self.load(META_PKG)
        for name in sorted(self.protos[META_PKG]):
            if f"{META_PKG}.{name}" not in SCALAR_MESSAGES:
                pending.append((META_PKG, name))
        for name in GO_ONLY_META:
            pending.append((META_PKG, name))
        served = []
        for group, versions in resources.GROUPS:
            for v in versions:
                pkg = resources.package_of(group, v)
                self.load(pkg)
                served.append((group, v, pkg))
                for name in sorted(self.protos[pkg]):
                    pending.append((pkg, name))
        self.close(pending)

        kinds = []
        for group, v, pkg in served:
            names = sorted(n for n in set(self.protos[pkg]) | set(self.gos[pkg]["structs"])
                           if n in self.protos[pkg] and self.is_kind_struct(pkg, n))
            for n in names:
                kinds.append([group, v, n, openapi_name(f"{pkg}.{n}")])
            for n in resources.META_KINDS_EVERY_GV:
                if n not in names:
                    kinds.append([group, v, n, openapi_name(f"{META_PKG}.{n}")])
        for n in resources.META_KINDS:
            kinds.append(["meta.k8s.io", "v1", n, openapi_name(f"{META_PKG}.{n}")])
        kind_set = {(g, v, k) for g, v, k, _ in kinds}
        for _, _, _, t in kinds:
            assert t in self.types, t

        res = []
        for r in resources.RESOURCES:
            g, v, k = r["group"], r["version"], r["kind"]
            if (g, v, k) not in kind_set:
                raise SystemExit(f"resource kind {g}/{v} {k} has no type")
            pkg = resources.package_of(g, v)
            e = {"g": g, "v": v, "k": k, "p": r["plural"], "s": k.lower(),
                 "ns": 1 if r["namespaced"] else 0, "verbs": r["verbs"],
                 "t": openapi_name(f"{pkg}.{k}")}
            if (g, v, k + "List") in kind_set:
                e["lk"] = k + "List"
            if r["short"]:
                e["sn"] = r["short"]
            if r["cats"]:
                e["cat"] = r["cats"]
            subs = []
            for sname, rk, verbs in r["subs"]:
                rk = rk or (g, v, k)
                if tuple(rk) not in kind_set:
                    raise SystemExit(f"subresource {r['plural']}/{sname}: no kind {rk}")
                subs.append([sname, rk[0], rk[1], rk[2], verbs])
            if subs:
                e["sub"] = subs
            if r["storage_version"] != v:
                e["sv"] = r["storage_version"]
            if r["storage_group"] != g:
                e["sg"] = r["storage_group"]
            if r["virtual"]:
                e["virt"] = 1
            res.append(e)
        return {"groups": [[g, vs] for g, vs in resources.GROUPS], "kinds": kinds,
                "resources": res}

    def render(self):
        top = self.run()
        out = ['{"format":%d,"source":%s,' % (FORMAT_VERSION,
                                              json.dumps("kubernetes " + self.mirror.ref))]
        dump = lambda x: json.dumps(x, separators=(",", ":"), ensure_ascii=False)
        out.append('"groups":' + dump(top["groups"]) + ",")
        out.append('"resources":[\n' + ",\n".join(dump(r) for r in top["resources"]) + "],")
        out.append('"kinds":[\n' + ",\n".join(dump(k) for k in top["kinds"]) + "],")
        out.append('"types":[\n' + ",\n".join(dump(self.types[n]) for n in sorted(self.types))
                   + "]}")
        return "\n".join(out) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirror", default=os.environ.get("TUG_MIRROR", "/work/.mirror"))
    ap.add_argument("--ref", default="release-1.33")
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "src", "api", "schema",
                                                  "kube.json"))
    ap.add_argument("--check", help="compare with this file instead of writing; exit 1 if it differs")
    ap.add_argument("--stdout", action="store_true")
    args = ap.parse_args()
    text = Generator(Mirror(args.mirror, args.ref)).render()
    if args.stdout:
        sys.stdout.write(text)
    elif args.check:
        with open(args.check, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{args.check} is not what schemagen produces; rerun {sys.argv[0]}",
                      file=sys.stderr)
                return 1
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
