// The kernel-file parsers and rate arithmetic against fixture text, with expected values worked
// out by hand in the comments.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { InputError } from '../../src/core/errors.js';
import {
  diskRates,
  hostCpuMillicores,
  ioRates,
  isWholeDisk,
  memoryUsedMiB,
  microsToMillicores,
  nanosToMillicores,
  netRates,
  parseBlkioServiceBytes,
  parseDiskstats,
  parseFlatKeyed,
  parseIoStatV2,
  parseMeminfo,
  parseNetDev,
  parsePidStat,
  parsePressure,
  parseProcStat,
  parseSingleValue,
  pidCpuMillicores,
  type CpuTimes,
} from '../../src/agent/parsers.js';

const STAT_BEFORE = `cpu  100 10 50 800 20 5 5 10 0 0
cpu0 50 5 25 400 10 3 2 5 0 0
cpu1 50 5 25 400 10 2 3 5 0 0
intr 12345 0 0
ctxt 999
btime 1700000000
processes 42
procs_running 1
procs_blocked 0
`;
// deltas: user +150, nice 0, system +50, idle +700, iowait +50, irq +5, softirq +25, steal +20;
// guest 40 is part of user already and must not be added again.
const STAT_AFTER = `cpu  250 10 100 1500 70 10 30 30 40 0
cpu0 125 5 50 750 35 5 15 15 20 0
cpu1 125 5 50 750 35 5 15 15 20 0
intr 22345 0 0
`;

test('/proc/stat: busy = user+nice+system+irq+softirq+steal; 250 of 1000 jiffies on 2 CPUs = 500 millicores', () => {
  const a = parseProcStat(STAT_BEFORE);
  const b = parseProcStat(STAT_AFTER);
  assert.equal(a.cpuCount, 2);
  assert.deepEqual(a.total, { user: 100, nice: 10, system: 50, idle: 800, iowait: 20, irq: 5, softirq: 5, steal: 10 });
  // busy delta 150+50+5+25+20 = 250; total delta 250 + 700 idle + 50 iowait = 1000
  assert.equal(hostCpuMillicores(a, b), 500);
  assert.equal(hostCpuMillicores(a, a), 0, 'no time passed: zero, not NaN');
});

test('/proc/stat: old kernels with 4 counters read, the rest as zero; garbage is an InputError with line and field', () => {
  const s = parseProcStat('cpu 1 2 3 4\ncpu0 1 2 3 4\n');
  assert.deepEqual(s.total, { user: 1, nice: 2, system: 3, idle: 4, iowait: 0, irq: 0, softirq: 0, steal: 0 });
  assert.throws(() => parseProcStat('cpu 1 x 3 4 5\ncpu0 1 2 3 4\n'), (e: unknown) => e instanceof InputError && /\/proc\/stat:1, field nice/.test(e.message));
  assert.throws(() => parseProcStat('intr 1\n'), /no aggregate "cpu" line/);
});

test('host CPU millicores stay within [0, cores*1000] for any increasing counters', () => {
  const times = fc.record<CpuTimes>({
    user: fc.nat(1e9), nice: fc.nat(1e9), system: fc.nat(1e9), idle: fc.nat(1e9),
    iowait: fc.nat(1e9), irq: fc.nat(1e9), softirq: fc.nat(1e9), steal: fc.nat(1e9),
  });
  fc.assert(
    fc.property(times, times, fc.integer({ min: 1, max: 256 }), (t0, inc, cores) => {
      const t1 = Object.fromEntries(Object.entries(t0).map(([k, v]) => [k, v + inc[k as keyof CpuTimes]])) as unknown as CpuTimes;
      const mc = hostCpuMillicores({ total: t0, cpuCount: cores }, { total: t1, cpuCount: cores });
      return mc >= 0 && mc <= cores * 1000;
    }),
  );
});

test('/proc/meminfo: used = MemTotal - MemAvailable in MiB; old kernels estimate MemAvailable', () => {
  const info = parseMeminfo(`MemTotal:        2048000 kB
MemFree:          512000 kB
MemAvailable:    1024000 kB
Buffers:           10240 kB
Cached:           409600 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`);
  assert.equal(info['HugePages_Total'], 0);
  assert.equal(memoryUsedMiB(info), 1000); // (2048000 - 1024000) kB / 1024
  const old = parseMeminfo('MemTotal: 2048000 kB\nMemFree: 1000000 kB\nBuffers: 24000 kB\nCached: 0 kB\n');
  assert.equal(memoryUsedMiB(old), 1000); // 2048000 - (1000000 + 24000 + 0)
  assert.throws(() => memoryUsedMiB(parseMeminfo('MemFree: 1 kB\n')), /field MemTotal: missing/);
  assert.throws(() => parseMeminfo('MemTotal: lots\n'), /meminfo:1/);
});

test('pressure: "some avg10" and "full" lines; no "some" is an error', () => {
  const p = parsePressure('some avg10=1.50 avg60=2.25 avg300=0.10 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n', '/proc/pressure/io');
  assert.deepEqual(p.some, { avg10: 1.5, avg60: 2.25, avg300: 0.1, totalUs: 123456 });
  assert.equal(p.full?.totalUs, 0);
  assert.equal(parsePressure('some avg10=15.43 avg60=22.53 avg300=28.72 total=1033475076\n', 'cpu').full, undefined);
  assert.throws(() => parsePressure('full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n', '/proc/pressure/cpu'), /no "some" line/);
  assert.throws(() => parsePressure('some avg10=x\n', '/proc/pressure/cpu'), /pressure\/cpu:1/);
});

const DISK_BEFORE = `   7       0 loop0 5 0 80000 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 81340 9852 1000 56177 29786 58190 2000 9762 0 25864 70732 18478 98 1572408 4614 3098 177
 254       1 vda1 81000 9852 900 56000 29000 58000 1900 9000 0 25000 70000 18000 98 1572000 4600 0 0
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0
   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
`;
// vda: +4096 sectors read (2048 KiB), +2048 written (1024 KiB); the partition and loop0 move a lot
// but are not whole disks.
const DISK_AFTER = `   7       0 loop0 5 0 900000 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 81340 9852 5096 56177 29786 58190 4048 9762 0 25864 70732 18478 98 1572408 4614 3098 177
 254       1 vda1 81000 9852 99900 56000 29000 58000 99900 9000 0 25000 70000 18000 98 1572000 4600 0 0
 253       0 zram0 0 0 0 0 0 0 0 0 0 0 0
   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
`;

test('/proc/diskstats: whole disks only, sectors*512 per second; loop/ram/zram and partitions excluded', () => {
  const a = parseDiskstats(DISK_BEFORE);
  assert.deepEqual(a[1], { name: 'vda', sectorsRead: 1000, sectorsWritten: 2000 });
  // over 2 s: 2048 KiB read -> 1024 KiB/s, 1024 KiB written -> 512 KiB/s
  const byPattern = diskRates(a, parseDiskstats(DISK_AFTER), 2000);
  assert.deepEqual(byPattern, { readKiBps: 1024, writeKiBps: 512 });
  const bySys = diskRates(a, parseDiskstats(DISK_AFTER), 2000, new Set(['loop0', 'vda', 'zram0', 'ram0']));
  assert.deepEqual(bySys, byPattern);
  for (const n of ['sda', 'vdb', 'nvme0n1', 'mmcblk0', 'xvda']) assert.ok(isWholeDisk(n), n);
  for (const n of ['sda1', 'nvme0n1p2', 'mmcblk0p1', 'loop3', 'ram0', 'zram0', 'dm-0', 'md127']) assert.ok(!isWholeDisk(n), n);
  assert.throws(() => parseDiskstats(' 8 0 sda 1 2\n'), /diskstats:1, field fields/);
});

const NET_BEFORE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 1000000    8863    0    0    0     0          0         0   444468    4793    0    0    0     0       0          0
  eth1:     500       1    0    0    0     0          0         0      500       1    0    0    0     0       0          0
`;
// eth0 +1048576 rx (1024 KiB), +10240 tx (10 KiB); eth1 was re-created (counters went back): 0;
// lo moves 1 GB and is excluded.
const NET_AFTER = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 1000003193      29    0    0    0     0          0         0 1000003193      29    0    0    0     0       0          0
  eth0: 2048576    8863    0    0    0     0          0         0   454708    4793    0    0    0     0       0          0
  eth1:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
`;

test('/proc/net/dev: rx/tx KiB/s over every interface but lo; a counter reset adds nothing', () => {
  const a = parseNetDev(NET_BEFORE);
  assert.deepEqual(a.map((n) => n.name), ['lo', 'eth0', 'eth1']);
  assert.deepEqual(a[1], { name: 'eth0', rxBytes: 1000000, txBytes: 444468 });
  assert.deepEqual(netRates(a, parseNetDev(NET_AFTER), 1000), { rxKiBps: 1024, txKiBps: 10 });
  assert.deepEqual(netRates(a, parseNetDev(NET_AFTER), 500), { rxKiBps: 2048, txKiBps: 20 });
});

test('/proc/<pid>/stat: comm with spaces and parentheses; (utime+stime) ticks -> millicores', () => {
  const fields = (utime: number, stime: number) =>
    `1234 (my (odd) proc) R 1 1234 1234 0 -1 4194304 100 0 0 0 ${utime} ${stime} 0 0 20 0 3 0 98765 123456789 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0`;
  const a = parsePidStat(fields(100, 20), '/proc/1234/stat');
  assert.deepEqual(a, { pid: 1234, comm: 'my (odd) proc', state: 'R', utimeTicks: 100, stimeTicks: 20, numThreads: 3, startTimeTicks: 98765, rssPages: 2560 });
  const b = parsePidStat(fields(250, 50), '/proc/1234/stat');
  // +180 ticks at 100 Hz = 1.8 CPU-seconds over 2 s = 900 millicores
  assert.equal(pidCpuMillicores(a, b, 2000, 100), 900);
  assert.equal(pidCpuMillicores(b, a, 2000, 100), 0);
  assert.throws(() => parsePidStat('1234 (x) R 1 2', '/proc/1234/stat'), /\/proc\/1234\/stat:1, field fields/);
});

test('cgroup files: single values, "max", flat-keyed cpu.stat; ns and us counters -> millicores', () => {
  assert.equal(parseSingleValue('5750000000\n', 'cpuacct.usage'), 5750000000);
  assert.equal(parseSingleValue('max\n', 'memory.max'), Infinity);
  assert.throws(() => parseSingleValue('-1\n', '/sys/fs/cgroup/memory/x/memory.usage_in_bytes'), /memory.usage_in_bytes:1, field value/);
  assert.deepEqual(parseFlatKeyed('nr_periods 10\nnr_throttled 4\nthrottled_time 120000000\n', 'cpu.stat'), { nr_periods: 10, nr_throttled: 4, throttled_time: 120000000 });
  assert.throws(() => parseFlatKeyed('usage_usec 1 2\n', 'cpu.stat'), /cpu.stat:1, field usage_usec/);
  // v1: 0.75e9 ns of CPU over 1.5 s = 0.5 core
  assert.equal(nanosToMillicores(5e9, 5.75e9, 1500), 500);
  // v2: 250000 us over 0.5 s = 0.5 core
  assert.equal(microsToMillicores(1_000_000, 1_250_000, 500), 500);
  assert.equal(microsToMillicores(10, 5, 500), 0, 'a reset counter reads as zero, never negative');
});

test('cgroup I/O: v2 io.stat and v1 blkio.throttle.io_service_bytes summed over devices', () => {
  const v2 = parseIoStatV2('8:0 rbytes=1048576 wbytes=2097152 rios=10 wios=20 dbytes=0 dios=0\n253:0 rbytes=1024 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n', 'io.stat');
  assert.deepEqual(v2, { readBytes: 1049600, writeBytes: 2097152 });
  const v1 = parseBlkioServiceBytes('8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n8:16 Read 1024\n8:16 Write 0\nTotal 13312\n', 'blkio');
  assert.deepEqual(v1, { readBytes: 5120, writeBytes: 8192 });
  // +1 MiB read, +2 MiB written over 2 s
  assert.deepEqual(ioRates({ readBytes: 0, writeBytes: 0 }, { readBytes: 1048576, writeBytes: 2097152 }, 2000), { readKiBps: 512, writeKiBps: 1024 });
});
