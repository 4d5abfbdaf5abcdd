import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/core/errors.js';
import { getTraceFormat, TRACE_FORMAT_NAMES } from '../../src/traces/registry.js';

test('registry: every listed name resolves to the format of that name', () => {
  assert.deepEqual([...TRACE_FORMAT_NAMES].sort(), ['alibaba', 'bitbrains', 'csv', 'google2011', 'planetlab', 'synthetic']);
  for (const name of TRACE_FORMAT_NAMES) {
    const f = getTraceFormat(name);
    assert.equal(f.name, name);
    assert.ok(f.description.length > 0 && f.resources.length > 0);
  }
});

test('registry: an unknown name is an input error that lists the valid names', () => {
  assert.throws(
    () => getTraceFormat('azure'),
    (e: unknown) => e instanceof InputError && e.message.includes('"azure"') && TRACE_FORMAT_NAMES.every((n) => e.message.includes(n)),
  );
});
