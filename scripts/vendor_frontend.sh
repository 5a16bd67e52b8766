#!/bin/sh
# Copy the front-end files the pages need from the npm registry into web/static/vendor/.
#
# The app serves these files itself, so it needs neither npm nor a CDN at run time
# (and the Content-Security-Policy can stay 'self'). Run this after changing
# package.json / package-lock.json, then commit what changed under web/static/vendor/.
# `npm ci` runs in a temporary directory so no node_modules is left in the checkout.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

cp "$root/package.json" "$root/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

src="$work/node_modules/bootstrap"
dest="$root/web/static/vendor/bootstrap"
rm -rf "$dest"
mkdir -p "$dest"
cp "$src/dist/css/bootstrap.min.css" "$src/dist/js/bootstrap.bundle.min.js" "$src/LICENSE" "$dest/"
version=$(node -p "require(process.argv[1]).version" "$src/package.json")
echo "vendored bootstrap $version into ${dest#"$root"/}"
