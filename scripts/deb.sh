#!/usr/bin/env bash
# Builds the Debian package resonate_<version>_<arch>.deb with Debian's
# tooling (debhelper, dpkg-buildpackage; debian/), offline. The build runs in
# a copy of the tree ($BUILD/deb/resonate-<version>), so the tree itself
# stays clean; the package is copied to $BUILD/ (default build/).
# Needs what `./scripts/deps.sh --deb` installs. Usage: scripts/deb.sh
# (or `make deb`); DEB_JOBS=N sets the parallel jobs (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${BUILD:-build}")

version=$(dpkg-parsechangelog -S Version)
binver=$(sed -n 's/^#define RESONATE_VERSION "\(.*\)"$/\1/p' server/serve.h)
if [ "$version" != "$binver" ]; then
    echo "error: debian/changelog is at $version but RESONATE_VERSION (server/serve.h) is" \
         "$binver; add a changelog entry: dch -v $binver" >&2
    exit 1
fi

src=$out/deb/resonate-$version
rm -rf "$out/deb"
mkdir -p "$src"
# The tree's files: in a git checkout, tracked and new ones (not ignored
# ones: build output, node_modules, databases); else all but build output.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -C "$src" -xf -
else
    tar --exclude=./build --exclude=./resonate --exclude=node_modules -cf - . |
        tar -C "$src" -xf -
fi

# Nothing of the calling make (its BUILD, its command-line variables in
# MAKEFLAGS) reaches the package's own make, whose `clean` removes $BUILD.
(cd "$src" && env -u BUILD -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    dpkg-buildpackage -us -uc -b -j"${DEB_JOBS:-2}")

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=resonate_${version}_${arch}.deb
cp "$out/deb/$deb" "$out/$deb"
# The copy goes: its build/ would otherwise add its *.d files to the
# dependencies the tree's Makefile reads from $BUILD.
rm -rf "$src"
echo "built $out/$deb"
