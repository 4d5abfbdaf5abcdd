// The simulated driver passes the shared driver conformance suite (src/drivers/conformance.ts).
import { test } from 'node:test';
import { driverConformanceCases, type ConformanceSubject } from '../../src/drivers/conformance.js';
import type { HostState, InstanceState } from '../../src/policy/framework/types.js';
import { SimDriver } from '../../src/sim/sim-driver.js';

test('simulated driver: conformance', async (t) => {
  const hosts = new Map<string, HostState>([['h1', { id: 'h1', capacity: { cpu: 8000, memory: 16384 }, on: true }]]);
  const vm: InstanceState = {
    id: 'vm1',
    hostId: 'h1',
    units: { cpu: 'millicores', memory: 'MiB' },
    capacity: { cpu: 4000, memory: 8192 },
    allocation: { cpu: 1000, memory: 1024 },
    lastUsage: { cpu: NaN, memory: NaN },
    samples: 0,
  };
  const instances = new Map([[vm.id, vm]]);
  const subject: ConformanceSubject = {
    driver: new SimDriver(instances, hosts, false),
    instance: 'vm1',
    targets: [
      { cpu: 2000, memory: 2048 },
      { cpu: 500, memory: 512 },
    ],
    observe: (id) => ({ ...instances.get(id)!.allocation }),
  };
  for (const c of driverConformanceCases()) await t.test(c.name, () => c.run(subject));
});
