// Choosing the accelerator: KVM where it really works, TCG (software emulation) otherwise.
// /dev/kvm existing is not enough: on some nested schemes a stock kernel aborts (`-cpu max` on an
// MSR) or hangs in the guest. So the probe boots the test guest under KVM, bounded in time, and
// takes KVM only if the ready marker shows up. The verdict is cached per boot of this host
// (/proc/sys/kernel/random/boot_id) in the guest cache folder. PRESCIENT_QEMU_ACCEL=tcg|kvm forces it.
import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { READY_MARKER, type GuestImage } from './guest-image.js';

export type Accel = 'kvm' | 'tcg';

export interface AccelChoice {
  accel: Accel;
  /** Why: "forced by PRESCIENT_QEMU_ACCEL", "no /dev/kvm", "KVM guest did not boot within 8000 ms"... */
  reason: string;
  /** Boot time of the probe guest under KVM, when it booted. */
  probeBootMs?: number;
}

export const QEMU_BINARY = 'qemu-system-x86_64';

/** The QEMU binary, or undefined with the reason it cannot run (not installed). */
export async function qemuAvailable(binary = QEMU_BINARY): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  return new Promise((res) => {
    const p = spawn(binary, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('error', (e) => res({ ok: false, reason: `${binary} not runnable (${e.message}); install qemu-system-x86` }));
    p.on('close', (code) => res(code === 0 ? { ok: true, version: out.split('\n')[0]!.trim() } : { ok: false, reason: `${binary} --version exited ${code}` }));
  });
}

/** Boots the guest under KVM and waits for the marker, at most timeoutMs. */
export async function probeKvm(image: GuestImage, timeoutMs = 8000, binary = QEMU_BINARY): Promise<{ ok: boolean; ms: number; why: string }> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch (e) {
    return { ok: false, ms: 0, why: `no usable /dev/kvm (${(e as Error).message})` };
  }
  const dir = await mkdtemp(join(tmpdir(), 'prescient-kvm-probe-'));
  const serial = join(dir, 'serial.log');
  const t0 = performance.now();
  const p = spawn(
    binary,
    ['-accel', 'kvm', '-m', '256', '-smp', '1', '-display', 'none', '-monitor', 'none', '-nodefaults', '-no-reboot', '-serial', `file:${serial}`,
      '-kernel', image.kernel, '-initrd', image.initrd, '-append', 'console=ttyS0 quiet panic=-1 prescient.cpu=0,0 prescient.mem=0,0'],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let stderr = '';
  p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  let exited = false;
  p.on('exit', () => (exited = true));
  try {
    while (performance.now() - t0 < timeoutMs) {
      await new Promise((r) => setTimeout(r, 100));
      const text = await readFile(serial, 'utf8').catch(() => '');
      if (text.includes(READY_MARKER)) return { ok: true, ms: performance.now() - t0, why: 'booted' };
      if (exited) return { ok: false, ms: performance.now() - t0, why: `QEMU under KVM exited: ${stderr.trim().split('\n').slice(-2).join(' ') || 'no message'}` };
    }
    return { ok: false, ms: performance.now() - t0, why: `the guest printed no ready marker within ${timeoutMs} ms under KVM (hung)` };
  } finally {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** KVM if a bounded probe boots the guest under it, else TCG; cached per host boot. */
export async function chooseAccel(image: GuestImage, o: { cacheDir?: string; timeoutMs?: number; log?: (l: string) => void } = {}): Promise<AccelChoice> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const forced = process.env['PRESCIENT_QEMU_ACCEL'];
  if (forced === 'tcg' || forced === 'kvm') return { accel: forced, reason: 'forced by PRESCIENT_QEMU_ACCEL' };
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const cacheFile = o.cacheDir ? join(o.cacheDir, 'accel.json') : undefined;
  if (cacheFile && bootId) {
    try {
      const c = JSON.parse(await readFile(cacheFile, 'utf8')) as { bootId: string; kernel: string; choice: AccelChoice };
      if (c.bootId === bootId && c.kernel === image.kernelRelease) return c.choice;
    } catch {
      /* no cache */
    }
  }
  const r = await probeKvm(image, o.timeoutMs ?? 8000);
  const choice: AccelChoice = r.ok ? { accel: 'kvm', reason: `KVM probe booted the guest in ${r.ms.toFixed(0)} ms`, probeBootMs: r.ms } : { accel: 'tcg', reason: `KVM not usable: ${r.why}` };
  log(`prescient qemu: using ${choice.accel.toUpperCase()} (${choice.reason})`);
  if (cacheFile && bootId) await writeFile(cacheFile, JSON.stringify({ bootId, kernel: image.kernelRelease, choice })).catch(() => undefined);
  return choice;
}
