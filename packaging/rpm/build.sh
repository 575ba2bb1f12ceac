#!/bin/sh
# build.sh BUILD_DIR - an .rpm of the three programs and their systemd units (rpmbuild).
set -eu
build=$1
scripts/deps.sh rpm
version=$(sed -n 's/^#define DROVER_VERSION "\(.*\)"/\1/p' cli/main.c)
top=$(pwd)/$build/rpm
rm -rf "$top"
mkdir -p "$top/SPECS" "$top/BUILD" "$top/RPMS"
sed "s/@VERSION@/$version/" packaging/rpm/drover.spec >"$top/SPECS/drover.spec"
rpmbuild --quiet -bb --define "_topdir $top" --define "_srcroot $(pwd)" --define "_builddir_bin $(pwd)/$build/bin" \
        "$top/SPECS/drover.spec"
find "$top/RPMS" -name '*.rpm' -exec cp {} "$build/" \; -exec echo "built {}" \;
