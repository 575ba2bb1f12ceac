#!/bin/sh
# build.sh BUILD_DIR - a .deb of the three programs and their systemd units (dpkg-deb).
set -eu
build=$1
version=$(sed -n 's/^#define DROVER_VERSION "\(.*\)"/\1/p' cli/main.c)
arch=$(dpkg --print-architecture)
root="$build/deb/drover_${version}_${arch}"
rm -rf "$root"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/share/doc/drover"
install -m 0755 "$build/bin/drover" "$build/bin/drover-server" "$build/bin/drover-agent" "$root/usr/bin/"
install -m 0644 packaging/systemd/*.service "$root/lib/systemd/system/"
install -m 0644 README.md "$root/usr/share/doc/drover/"
install -m 0644 docs/*.md "$root/usr/share/doc/drover/"
cat >"$root/DEBIAN/control" <<CONTROL
Package: drover
Version: $version
Architecture: $arch
Maintainer: drover developers <drover@localhost>
Depends: libraft0, libuv1, libmicrohttpd12, libjansson4, libcurl4, libsqlite3-0, libjemalloc2
Section: admin
Priority: optional
Description: cluster scheduler for bare-metal Linux (Nomad-compatible)
 drover-server (Raft control plane and scheduler), drover-agent (node agent)
 and the drover command-line tool.
CONTROL
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && ! getent passwd drover >/dev/null; then
        adduser --system --group --home /var/lib/drover-server --no-create-home drover
fi
POSTINST
chmod 0755 "$root/DEBIAN/postinst"
dpkg-deb --root-owner-group --build "$root" "$build/" >/dev/null
echo "built $build/drover_${version}_${arch}.deb"
