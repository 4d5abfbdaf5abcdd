// QemuDriver on real QEMU (TCG unless a bounded probe finds a KVM that boots the guest), with the
// Debian-built test guest: the conformance suite (CPU quota through the VM's cgroup, memory
// through the balloon), balloon step latency and the guest's own view of it, vCPU hotplug and
// unplug, vCPU thread pinning, live migration over loopback (time, downtime, the guest keeps
// running on the target with its hot-added CPU), rollback (a failed or cancelled migration leaves
// the source running; a failing plan undoes the balloon) and shadow promotion.
// Skips with a message when qemu-system-x86_64 is missing or the guest cannot be built
// (scripts/ci/install-drivers.sh installs both). Every QEMU is killed with its process group and
// its socket, serial log and folder removed, whatever the outcome.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { applyPlan } from '../../src/core/ports.js';
import { hotplug, migrate, pin, resize } from '../../src/core/plan.js';
import { CgroupDriver } from '../../src/drivers/cgroups/cgroup-driver.js';
import { driverConformanceCases, type ConformanceSubject } from '../../src/drivers/conformance.js';
import { chooseAccel, qemuAvailable, type AccelChoice } from '../../src/drivers/qemu/accel.js';
import { defaultGuestCacheDir, ensureGuestImage, type GuestImage } from '../../src/drivers/qemu/guest-image.js';
import { QemuDriver } from '../../src/drivers/qemu/qemu-driver.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let skip: string | undefined;
let image: GuestImage;
let accel: AccelChoice;
let cgroups: CgroupDriver | undefined;
const drivers: QemuDriver[] = [];

before(async () => {
  const q = await qemuAvailable();
  if (!q.ok) {
    skip = `${q.reason} (scripts/ci/install-drivers.sh installs it)`;
    return;
  }
  try {
    image = await ensureGuestImage({ log: (l) => console.log(`# ${l}`) });
  } catch (e) {
    skip = `cannot build the test guest: ${(e as Error).message} (scripts/ci/install-drivers.sh prepares it)`;
    return;
  }
  accel = await chooseAccel(image, { cacheDir: defaultGuestCacheDir(), log: (l) => console.log(`# ${l}`) });
  console.log(`# ${q.version}; accelerator ${accel.accel}: ${accel.reason}`);
  const cg = await CgroupDriver.open({ prefix: `prescient-qtest-${process.pid}-` });
  if (cg instanceof CgroupDriver) cgroups = cg;
  else console.log(`# no cgroups (${cg.unavailable}): CPU quotas not applied`);
});

after(async () => {
  for (const d of drivers) await d.stopAll().catch(() => undefined);
  await cgroups?.destroyAll().catch(() => undefined);
});

function driver(): QemuDriver {
  const d = new QemuDriver({ image, accel: accel.accel, ...(cgroups ? { cgroups } : {}), log: (l) => console.log(`# ${l}`) });
  drivers.push(d);
  return d;
}

async function closeAndCheck(d: QemuDriver): Promise<void> {
  const pids = d.instances().map((id) => d.pid(id));
  await d.stopAll();
  for (const pid of pids) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    assert.ok(!alive, `QEMU ${pid} was killed`);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

test('qemu driver: conformance, balloon, guest stats, hotplug, pinning', { timeout: 150_000 }, async (t) => {
  if (skip) return t.skip(skip);
  if (!cgroups) return t.skip('conformance resizes CPU through the VM cgroup: no cgroups here');
  const d = driver();
  try {
    const { bootMs } = await d.start({ id: 'conf', memoryMiB: 512, workload: { cpuPct: [5, 30], memoryMiB: [16, 48], periodS: 20 } });
    console.log(`# boot to ready marker: ${bootMs.toFixed(0)} ms (${accel.accel})`);
    const before0 = await d.guestMemory('conf');
    const subject: ConformanceSubject = {
      driver: d,
      instance: 'conf',
      targets: [
        { cpu: 500, memory: 256 },
        { cpu: 250, memory: 384 },
      ],
      async observe(id) {
        return { cpu: await d.cpuQuota(id), memory: await d.balloonMiB(id) };
      },
      tolerance: { cpu: 1, memory: 1 },
      badInputs: [
        { action: resize('conf', NaN, 4096, []), field: 'memory' },
        { action: resize('conf', NaN, 8, []), field: 'memory' },
        { action: hotplug('conf', 9, []), field: 'vcpus' },
        { action: hotplug('conf', 0, []), field: 'vcpus' },
        { action: pin('conf', [], []), field: 'cpus' },
        { action: pin('conf', [999], []), field: 'cpus' },
        { action: migrate('conf', '', 'nowhere', []), field: 'to' },
        { action: migrate('conf', 'cpu9', Object.keys(await d.hosts()).at(-1)!, []), field: 'from' },
      ],
    };
    for (const c of driverConformanceCases()) await t.test(c.name, () => c.run(subject));

    // Balloon steps: latency of each step, and the guest's MemTotal follows.
    const steps = [256, 384, 192, 512];
    const lat: number[] = [];
    for (const mib of steps) {
      const n = d.latencies.length;
      const undo = await d.apply(resize('conf', NaN, mib, ['test']));
      void undo;
      lat.push(d.latencies.slice(n).find((l) => l.kind === 'balloon')!.ms);
      assert.ok(Math.abs((await d.balloonMiB('conf')) - mib) <= 1);
    }
    console.log(`# balloon steps ${steps.join(' -> ')} MiB: ${lat.map((x) => x.toFixed(0)).join(', ')} ms (median ${median(lat).toFixed(0)} ms)`);
    await d.apply(resize('conf', NaN, 256, ['test']));
    let g = await d.guestMemory('conf');
    for (let i = 0; i < 40 && !(Math.abs(before0.totalMiB - g.totalMiB - 256) < 8); i++) {
      await sleep(250);
      g = await d.guestMemory('conf');
    }
    console.log(`# guest MemTotal ${before0.totalMiB.toFixed(0)} -> ${g.totalMiB.toFixed(0)} MiB with the balloon at 256 MiB; used ${g.usedMiB.toFixed(0)} MiB`);
    assert.ok(Math.abs(before0.totalMiB - g.totalMiB - 256) < 8, `guest total fell by ${before0.totalMiB - g.totalMiB} MiB, not ~256`);
    assert.ok(g.usedMiB > 0 && g.usedMiB < g.totalMiB);

    // vCPU hotplug: the guest onlines the new CPU; undo unplugs it.
    assert.equal(await d.plugged('conf'), 1);
    const n0 = d.latencies.length;
    const unplug = await d.apply(hotplug('conf', 2, ['test']));
    assert.equal(await d.plugged('conf'), 2);
    assert.match(await d.serial('conf'), /prescient: online \/sys\/devices\/system\/cpu\/cpu1/);
    assert.equal((await d.vcpuThreads('conf')).length, 2);
    const hot = d.latencies.slice(n0).find((l) => l.kind === 'hotplug')!.ms;

    // Pinning: every vCPU thread on the chosen CPU; undo restores the previous affinity.
    const cpus = (await d.hosts())[d.hostOf('conf')]!;
    const prevAff = await d.vcpuAffinity('conf');
    const unpin = await d.apply(pin('conf', [cpus[0]!], ['test']));
    assert.deepEqual(await d.vcpuAffinity('conf'), [String(cpus[0]), String(cpus[0])]);
    await unpin();
    await unpin();
    assert.deepEqual(await d.vcpuAffinity('conf'), prevAff);

    const n1 = d.latencies.length;
    await unplug();
    await unplug();
    assert.equal(await d.plugged('conf'), 1);
    const unp = d.latencies.slice(n1).find((l) => l.kind === 'unplug')!.ms;
    console.log(`# vCPU hotplug to online in the guest: ${hot.toFixed(0)} ms; unplug (guest ejects): ${unp.toFixed(0)} ms`);
  } finally {
    await closeAndCheck(d);
  }
});

test('qemu driver: live migration over loopback, rollback and cancel leave the source running', { timeout: 150_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const d = driver();
  const hosts = Object.keys(await d.hosts());
  const [h0, h1] = [hosts[0]!, hosts[1] ?? hosts[0]!];
  try {
    await d.start({ id: 'mig', memoryMiB: 512, host: h0, workload: { cpuPct: [30, 90], memoryMiB: [48, 144], periodS: 10 } });
    await d.apply(hotplug('mig', 2, ['test']));
    await sleep(1000);

    // A failed migration (nothing listens there) leaves the source running, untouched.
    await assert.rejects(d.migrateVm('mig', h1, { uri: 'tcp:127.0.0.1:9' }), /migration of mig/);
    assert.equal(await d.status('mig'), 'running');
    assert.equal(d.hostOf('mig'), h0);

    // A failing action in a plan rolls the earlier migration back... here a balloon and a bad host.
    const r = await applyPlan(d, { nowS: 0, actions: [resize('mig', NaN, 320, ['t']), migrate('mig', h0, 'nowhere', ['t'])] });
    assert.equal(r.ok, false);
    assert.equal(r.failed?.index, 1);
    assert.ok(Math.abs((await d.balloonMiB('mig')) - 512) <= 1, 'the balloon went back');

    // migrate_cancel during a slow migration: the source keeps running.
    const slow = d.migrateVm('mig', h1, { maxBandwidthBytesPerS: 2 * 1024 * 1024 });
    slow.catch(() => undefined);
    await sleep(700);
    await d.cancelMigration('mig');
    await assert.rejects(slow, /cancelled/);
    assert.equal(await d.status('mig'), 'running');
    assert.equal(d.hostOf('mig'), h0);
    await d.qmp('mig').execute('migrate-set-parameters', { 'max-bandwidth': 1024 * 1024 * 1024 });

    // The real one: the plan's migrate action.
    const stats0 = await d.guestMemory('mig');
    const pid0 = d.pid('mig');
    const undo = await d.apply(migrate('mig', h0, h1, ['test']));
    const rec = d.migrations.at(-1)!;
    console.log(`# live migration of a 512 MiB guest (workload 30-90 % CPU, 48-144 MiB ballast), ${h0} -> ${h1}: total ${rec.totalTimeMs} ms, downtime ${rec.downtimeMs} ms, ${(rec.transferredBytes / 2 ** 20).toFixed(0)} MiB sent, action wall time ${rec.wallMs.toFixed(0)} ms (${accel.accel})`);
    assert.equal(rec.status, 'completed');
    assert.ok(rec.totalTimeMs > 0 && rec.downtimeMs >= 0);
    assert.notEqual(d.pid('mig'), pid0, 'a new QEMU process runs the guest');
    assert.equal(d.hostOf('mig'), h1);
    assert.equal(await d.status('mig'), 'running');
    assert.equal(await d.plugged('mig'), 2, 'the target declared the hot-added CPU');
    let stats1 = await d.guestMemory('mig');
    for (let i = 0; i < 40 && !(stats1.lastUpdateS > stats0.lastUpdateS); i++) {
      await sleep(250);
      stats1 = await d.guestMemory('mig');
    }
    assert.ok(stats1.lastUpdateS > stats0.lastUpdateS, 'the guest keeps reporting on the target');
    const cpuA = await d.cpuSample('mig');
    await sleep(1000);
    const cpuB = await d.cpuSample('mig');
    assert.ok(cpuB.cpuNs > cpuA.cpuNs, 'the guest keeps running (CPU time grows) on the target');
    let alive = true;
    try {
      process.kill(pid0, 0);
    } catch {
      alive = false;
    }
    assert.ok(!alive, 'the source QEMU was stopped');
    if (h0 !== h1) {
      await undo();
      assert.equal(d.hostOf('mig'), h0, 'undo migrates back');
      await undo();
      assert.equal(d.hostOf('mig'), h0);
      const back = d.migrations.at(-1)!;
      console.log(`# migration back (undo): total ${back.totalTimeMs} ms, downtime ${back.downtimeMs} ms`);
    }
  } finally {
    await closeAndCheck(d);
  }
});

test('qemu driver: a shadow VM started small ahead of need is grown on promotion (quota, balloon, vCPU)', { timeout: 120_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const d = driver();
  try {
    const { bootMs } = await d.startShadow({ id: 'shadow', memoryMiB: 512, maxVcpus: 2, workload: { cpuPct: [0, 10], memoryMiB: [8, 16] } }, { memoryMiB: 128, cpuMillicores: 100 });
    assert.ok(d.isShadow('shadow'));
    assert.ok(Math.abs((await d.balloonMiB('shadow')) - 128) <= 1);
    const { ms } = await d.promote('shadow', { vcpus: 2, memoryMiB: 512, cpuMillicores: 2000 });
    console.log(`# shadow: cold boot ${bootMs.toFixed(0)} ms; promotion (hotplug 1 vCPU + balloon 128 -> 512 MiB${cgroups ? ' + quota' : ''}) ${ms.toFixed(0)} ms`);
    assert.equal(d.isShadow('shadow'), false);
    assert.equal(await d.plugged('shadow'), 2);
    assert.ok(Math.abs((await d.balloonMiB('shadow')) - 512) <= 1);
    if (cgroups) assert.equal(await d.cpuQuota('shadow'), 2000);
  } finally {
    await closeAndCheck(d);
    assert.equal(d.instances().length, 0);
  }
});

test('qemu driver: stopAll leaves no process, socket or folder', { timeout: 60_000 }, async (t) => {
  if (skip) return t.skip(skip);
  const d = driver();
  let dir = '';
  try {
    await d.start({ id: 'gone', memoryMiB: 256, workload: { cpuPct: [0, 0], memoryMiB: [0, 0] } });
    dir = d.qmp('gone').path.replace(/\/qmp\.sock$/, '');
    assert.ok(existsSync(dir));
  } finally {
    await closeAndCheck(d);
  }
  assert.ok(!existsSync(dir), `${dir} removed`);
});
