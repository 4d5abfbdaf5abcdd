#!/usr/bin/env bash
# What the driver tests need (test/drivers): QEMU, busybox-static and cpio from Debian, and the
# test guest (the kernel of the package linux-image-cloud-amd64 depends on, fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into .cache/prescient-guest, plus an
# initramfs built from busybox). Idempotent: installs only what is missing, and the guest builder
# reuses its cache. Without root or apt-get it says so and the QEMU tests skip with a message.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PKGS="qemu-system-x86 busybox-static cpio"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1; fi
}

if [ -n "$missing" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "drivers: no apt-get; missing:$missing (the QEMU tests will skip)"
    exit 0
  fi
  echo "drivers: installing$missing"
  if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; }; then
    echo "drivers: could not install$missing (needs root and Debian's archive); the QEMU tests will skip"
    exit 0
  fi
else
  echo "drivers: $PKGS present"
fi
echo "drivers: $(qemu-system-x86_64 --version | head -n 1)"

# The guest (kernel download on first use, initramfs build); same code as the tests and the demo.
if ! apt-cache depends linux-image-cloud-amd64 2>/dev/null | grep -q 'Depends: linux-image-'; then
  as_root apt-get update -qq || true
fi
if node --import tsx -e "
  const { ensureGuestImage } = await import('./src/drivers/qemu/guest-image.ts');
  const g = await ensureGuestImage({ log: (l) => console.log('drivers: ' + l) });
  console.log('drivers: guest kernel ' + g.kernelRelease + ', initramfs ' + g.initrd);
"; then :; else
  echo "drivers: could not prepare the test guest (the QEMU tests will skip and say why)"
fi
exit 0
