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

# vendor PACKAGE FILE... : copy files of an installed package into vendor/PACKAGE (its
# LICENSE too), replacing what was there, and say which version it was.
vendor() {
  name=$1
  shift
  src="$work/node_modules/$name"
  dest="$root/web/static/vendor/$name"
  rm -rf "$dest"
  mkdir -p "$dest"
  for file in "$@" LICENSE*; do
    (cd "$src" && cp $file "$dest/")
  done
  version=$(node -p "require(process.argv[1]).version" "$src/package.json")
  echo "vendored $name $version into ${dest#"$root"/}"
}

vendor bootstrap dist/css/bootstrap.min.css dist/js/bootstrap.bundle.min.js
# The UMD build bundles its one dependency (@kurkle/color) and sets window.Chart; it
# draws on <canvas> and sets sizes through CSSOM, both allowed by the CSP.
vendor chart.js dist/chart.umd.min.js
