// The test guest, built from Debian packages only: the kernel of the package that
// linux-image-cloud-amd64 depends on (fetched with `apt-get download`, unpacked with
// `dpkg-deb -x`, no system install), its virtio modules, and an initramfs (cpio newc + gzip) of
// busybox-static whose /init:
//   mounts proc, sys and devtmpfs; loads virtio_ring, virtio, virtio_pci_modern_dev,
//   virtio_pci_legacy_dev, virtio_pci, virtio_balloon (in that order); prints the ready marker on
//   the serial console; onlines hot-added CPUs (there is no udev); and runs a small varying
//   workload: a CPU duty cycle and a tmpfs ballast that follow a triangle wave, set by kernel
//   command-line parameters (prescient.cpu=LOW,HIGH percent of one vCPU, prescient.mem=LOW,HIGH
//   MiB, prescient.period=SECONDS, prescient.phase=SECONDS).
// Everything lands in a cache folder (default .cache/prescient-guest, or $PRESCIENT_GUEST_DIR);
// a second call finds it there.
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DriverError } from '../../core/ports.js';

export const READY_MARKER = 'PRESCIENT-GUEST-READY';
export const GUEST_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_balloon'] as const;
/** Bump when /init or the layout changes: a cached initramfs of another version is rebuilt. */
const IMAGE_VERSION = 4;

export interface GuestImage {
  kernel: string;
  initrd: string;
  /** e.g. "6.1.0-56-cloud-amd64" */
  kernelRelease: string;
}

export interface GuestImageOptions {
  cacheDir?: string;
  busybox?: string;
  log?: (line: string) => void;
}

export function defaultGuestCacheDir(): string {
  return resolve(process.env['PRESCIENT_GUEST_DIR'] ?? join(process.cwd(), '.cache', 'prescient-guest'));
}

/** /init of the guest (busybox sh). */
export const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm && mount -t tmpfs -o size=90% shm /dev/shm
for m in ${GUEST_MODULES.join(' ')}; do insmod /lib/modules/$m.ko || echo "prescient: insmod $m failed"; done
arg() { v=$(tr ' ' '\\n' < /proc/cmdline | grep "^prescient.$1=" | cut -d= -f2); echo "\${v:-$2}"; }
CPU=$(arg cpu 10,60); MEM=$(arg mem 16,96); PERIOD=$(arg period 60); PHASE=$(arg phase 0)
CLO=\${CPU%,*}; CHI=\${CPU#*,}; MLO=\${MEM%,*}; MHI=\${MEM#*,}
echo "${READY_MARKER} cpus=$(cat /sys/devices/system/cpu/online) cpu=$CPU mem=$MEM period=$PERIOD"
# Hot-added CPUs arrive offline and nothing else here would bring them up.
( while :; do
    for f in /sys/devices/system/cpu/cpu[0-9]*/online; do
      [ "$(cat $f 2>/dev/null)" = 0 ] && echo 1 2>/dev/null > "$f" && echo "prescient: online $(dirname $f)"
    done
    usleep 200000
  done ) &
# The workload: each second, busy for DUTY % of it and a tmpfs ballast of MEM MiB, both on a
# triangle wave between LOW and HIGH with the given period.
t=$PHASE
while :; do
  half=$((PERIOD / 2)); [ $half -lt 1 ] && half=1
  p=$((t % PERIOD)); [ $p -gt $half ] && p=$((PERIOD - p))
  duty=$((CLO + (CHI - CLO) * p / half)); mem=$((MLO + (MHI - MLO) * p / half))
  if [ $((t % 5)) = 0 ]; then dd if=/dev/zero of=/dev/shm/ballast bs=1M count=$mem 2>/dev/null; fi
  if [ $duty -gt 0 ]; then yes > /dev/null & y=$!; usleep $((duty * 10000)); kill $y; fi
  [ $duty -lt 100 ] && usleep $(((100 - duty) * 10000))
  t=$((t + 1))
done
`;

function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', (e) => rej(new DriverError(`${cmd}: ${e.message}`, undefined, { cause: e })));
    p.on('close', (code) => (code === 0 ? res(out) : rej(new DriverError(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim().slice(-500)}`))));
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The versioned image package linux-image-cloud-amd64 depends on ("linux-image-6.1.0-56-cloud-amd64"). */
export async function cloudKernelPackage(): Promise<string> {
  const out = await run('apt-cache', ['depends', 'linux-image-cloud-amd64']);
  const m = /Depends:\s*(linux-image-[^\s<>]+)/.exec(out);
  if (!m) throw new DriverError(`apt-cache depends linux-image-cloud-amd64 names no linux-image package (run apt-get update?): ${out.slice(0, 300)}`);
  return m[1]!;
}

/** Fetches and unpacks the kernel into cacheDir/kernel (once). Returns its release. */
export async function ensureKernel(cacheDir: string, log: (l: string) => void = () => undefined): Promise<string> {
  const root = join(cacheDir, 'kernel');
  const boot = join(root, 'boot');
  const found = async () => ((await exists(boot)) ? (await readdir(boot)).find((f) => f.startsWith('vmlinuz-')) : undefined);
  let vmlinuz = await found();
  if (!vmlinuz) {
    await mkdir(cacheDir, { recursive: true });
    const pkg = await cloudKernelPackage();
    const dl = join(cacheDir, 'download');
    await rm(dl, { recursive: true, force: true });
    await mkdir(dl, { recursive: true });
    await chmod(dl, 0o777); // apt's _apt user may write here
    log(`guest: apt-get download ${pkg}`);
    await run('apt-get', ['download', pkg], dl);
    const deb = (await readdir(dl)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new DriverError(`apt-get download ${pkg} left no .deb in ${dl}`);
    const tmp = `${root}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await run('dpkg-deb', ['-x', join(dl, deb), tmp]);
    await rm(root, { recursive: true, force: true });
    await rename(tmp, root);
    await rm(dl, { recursive: true, force: true });
    vmlinuz = await found();
    if (!vmlinuz) throw new DriverError(`${deb} has no boot/vmlinuz-*`);
  }
  return vmlinuz.slice('vmlinuz-'.length);
}

/** Builds (once) and returns the guest kernel and initramfs. */
export async function ensureGuestImage(o: GuestImageOptions = {}): Promise<GuestImage> {
  const cacheDir = o.cacheDir ?? defaultGuestCacheDir();
  const log = o.log ?? (() => undefined);
  const release = await ensureKernel(cacheDir, log);
  const kernel = join(cacheDir, 'kernel', 'boot', `vmlinuz-${release}`);
  const initrd = join(cacheDir, `initramfs-v${IMAGE_VERSION}-${release}.cpio.gz`);
  if (await exists(initrd)) return { kernel, initrd, kernelRelease: release };
  const busybox = o.busybox ?? '/bin/busybox';
  if (!(await exists(busybox))) throw new DriverError(`${busybox} not found: apt-get install busybox-static`);
  const tree = join(cacheDir, `initramfs-tree-${process.pid}`);
  await rm(tree, { recursive: true, force: true });
  try {
    for (const d of ['bin', 'dev', 'proc', 'sys', 'lib/modules', 'tmp']) await mkdir(join(tree, d), { recursive: true });
    await copyFile(busybox, join(tree, 'bin', 'busybox'));
    await chmod(join(tree, 'bin', 'busybox'), 0o755);
    const modRoot = join(cacheDir, 'kernel', 'lib', 'modules', release, 'kernel', 'drivers', 'virtio');
    for (const m of GUEST_MODULES) {
      const candidates = [`${m}.ko`, `${m}.ko.xz`, `${m}.ko.zst`];
      const file = (await readdir(modRoot)).find((f) => candidates.includes(f));
      if (!file) throw new DriverError(`module ${m} not found in ${modRoot}`);
      if (!file.endsWith('.ko')) throw new DriverError(`module ${file} is compressed; busybox insmod needs it plain`);
      await copyFile(join(modRoot, file), join(tree, 'lib', 'modules', `${m}.ko`));
    }
    await writeFile(join(tree, 'init'), GUEST_INIT, { mode: 0o755 });
    const tmp = `${initrd}.${process.pid}.tmp`;
    await run('sh', ['-c', `find . -print0 | sort -z | cpio --null -o -H newc --quiet | gzip -6 > '${tmp}'`], tree);
    await rename(tmp, initrd);
    log(`guest: built ${initrd}`);
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
  return { kernel, initrd, kernelRelease: release };
}
