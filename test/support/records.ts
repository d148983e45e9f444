// A service record for tests that need a valid one and change a field or two.
import type { ServiceRecord } from '../../src/registry/record.js';

/** web on host1: every field set, so that layouts and the registry have something to carry. */
export const sampleRecord = (over: Partial<ServiceRecord> = {}): ServiceRecord => ({
  name: 'web',
  id: 'host1:web-1:80',
  host: '10.0.0.5',
  port: 32768,
  tags: ['v2'],
  meta: { version: '1.4' },
  node: 'host1',
  ...over,
});
