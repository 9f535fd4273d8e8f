#!/usr/bin/env bash
# Builds dist/ssh-outbound-logger_VERSION_ARCH.deb with dpkg-deb from the single binary and deploy/.
# Usage: npm run package:deb   (runs build:binary first)
set -euo pipefail
cd "$(dirname "$0")/.."

name=ssh-outbound-logger
version=$(node -p 'require("./package.json").version')
arch=$(dpkg --print-architecture)
binary=dist/bin/$name
[ -x "$binary" ] || { echo "build-deb: $binary is missing; run npm run build:binary" >&2; exit 1; }

stage=dist/deb/${name}_${version}_${arch}
rm -rf "$stage"
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/logrotate.d" \
  "$stage/etc/default" "$stage/usr/share/doc/$name" "$stage/usr/share/lintian/overrides" \
  "$stage/usr/share/$name"

install -m 0755 "$binary" "$stage/usr/bin/$name"
# The unit in deploy/ is for a by-hand install in /usr/local/bin; the package's binary is in /usr/bin.
sed "s|/usr/local/bin/$name|/usr/bin/$name|g" "deploy/$name.service" >"$stage/lib/systemd/system/$name.service"
chmod 0644 "$stage/lib/systemd/system/$name.service"
install -m 0644 "deploy/$name.logrotate" "$stage/etc/logrotate.d/$name"
install -m 0644 "deploy/$name.default" "$stage/etc/default/$name"
install -m 0644 schema/event.schema.json "$stage/usr/share/$name/event.schema.json"
install -m 0644 deploy/debian/copyright "$stage/usr/share/doc/$name/copyright"
install -m 0644 deploy/debian/lintian-overrides "$stage/usr/share/lintian/overrides/$name"
# rsyslog shipping (README "Fleet"): examples, not enabled; the admin copies them to /etc/rsyslog.d.
install -d "$stage/usr/share/doc/$name/examples/rsyslog"
install -m 0644 deploy/rsyslog/sender.conf deploy/rsyslog/collector.conf "$stage/usr/share/doc/$name/examples/rsyslog/"
if [ -f deploy/bash-completion ]; then
  install -d "$stage/usr/share/bash-completion/completions"
  install -m 0644 deploy/bash-completion "$stage/usr/share/bash-completion/completions/$name"
fi
# The changelog's date is the last commit's, so that two builds of one commit are identical.
when=$(git log -1 --format=%aD 2>/dev/null || date -R)
printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- ssh-outbound-logger developers <maintainers@ssh-outbound-logger.invalid>  %s\n' \
  "$name" "$version" "$version" "$when" | gzip -9n >"$stage/usr/share/doc/$name/changelog.gz"
chmod 0644 "$stage/usr/share/doc/$name/changelog.gz"

for s in postinst prerm postrm; do install -m 0755 "deploy/debian/$s" "$stage/DEBIAN/$s"; done
printf '/etc/default/%s\n/etc/logrotate.d/%s\n' "$name" "$name" >"$stage/DEBIAN/conffiles"
size=$(du -k -s --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: ssh-outbound-logger developers <maintainers@ssh-outbound-logger.invalid>
Installed-Size: $size
Depends: libc6, libbpf1, init-system-helpers (>= 1.54)
Recommends: logrotate
Section: admin
Priority: optional
Homepage: https://github.com/ssh-outbound-logger/ssh-outbound-logger
Description: audit log of every outbound SSH connection
 A daemon that writes one structured record (ECS-aligned JSON lines) for each
 SSH connection the host makes: the process, its ancestry, user and command
 line, the destination as typed and as IP:port, open and close times and bytes
 moved, each connection with one UUIDv7. Event-driven with its own eBPF probe
 (CO-RE, loaded with libbpf), or polling /proc. Ships a hardened systemd unit and a logrotate config.
CONTROL

find "$stage" -type d -exec chmod 0755 {} +
out=dist/${name}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz -z3 --build "$stage" "$out" >/dev/null
echo "$out"
