// Call options for the registry's writes: each attempt of etcd3's retry on the next member gets its own deadline.
import { describe, expect, it } from 'vitest';
import { perAttemptDeadline } from '../../../src/store/etcd-client.js';

describe('perAttemptDeadline', () => {
  it('is ms from whenever etcd3 reads it (it spreads the options per attempt), keeping the extra fields', async () => {
    const opts = perAttemptDeadline(1000, { autoKeepAlive: true });
    const first = { ...opts };
    await new Promise((r) => setTimeout(r, 30));
    const second = { ...opts };
    expect(first.autoKeepAlive).toBe(true);
    expect(second.deadline - first.deadline).toBeGreaterThanOrEqual(25);
    expect(second.deadline - Date.now()).toBeGreaterThan(900);
    expect(second.deadline - Date.now()).toBeLessThanOrEqual(1000);
  });
});
