// RecordSwitch logs what really happened: "registered" once the write is in etcd, "registration pending" while
// etcd is unreachable, nothing for a record switched off before its write landed.
import { describe, expect, it } from 'vitest';
import { RecordSwitch, type RecordWriter } from '../../../src/daemon/record-switch.js';
import type { RegistryState } from '../../../src/registry/registry.js';
import { captureLogger } from '../../support/logs.js';
import { sampleRecord } from '../../support/records.js';

/** A writer whose writes land when the test says so. */
class HeldWriter implements RecordWriter {
  state: RegistryState = 'synced';
  private landings: Array<() => void> = [];
  set(): void {}
  remove(): void {}
  async reconcile(): Promise<void> {}
  flushed(): Promise<void> {
    return new Promise((resolve) => this.landings.push(resolve));
  }
  /** Every write so far lands. */
  land(): Promise<void> {
    for (const resolve of this.landings.splice(0)) resolve();
    return new Promise((r) => setImmediate(r));
  }
}

const msgs = (lines: { msg?: string }[]): (string | undefined)[] => lines.map((l) => l.msg);

describe('RecordSwitch', () => {
  it('etcd unreachable: "registration pending" at once, "registered" only when the write lands', async () => {
    const writer = new HeldWriter();
    writer.state = 'failing';
    const { log, lines } = captureLogger();
    const sw = new RecordSwitch(sampleRecord(), writer, log);
    sw.set(true);
    await new Promise((r) => setImmediate(r));
    expect(msgs(lines)).toEqual(['registration pending: etcd unreachable']);
    expect(lines[0]).toMatchObject({ registry: 'failing', level: 30 });
    writer.state = 'synced';
    await writer.land();
    expect(msgs(lines)).toEqual(['registration pending: etcd unreachable', 'registered']);
  });

  it('etcd up: only "registered", once the write lands', async () => {
    const writer = new HeldWriter();
    const { log, lines } = captureLogger();
    new RecordSwitch(sampleRecord(), writer, log).set(true);
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual([]);
    await writer.land();
    expect(msgs(lines)).toEqual(['registered']);
  });

  it('switched off before the write landed: never logged as registered', async () => {
    const writer = new HeldWriter();
    writer.state = 'connecting';
    const { log, lines } = captureLogger();
    const sw = new RecordSwitch(sampleRecord(), writer, log);
    sw.set(true);
    sw.set(false);
    await writer.land();
    expect(msgs(lines)).toEqual(['registration pending: etcd unreachable', 'health check failing; deregistered']);
  });
});
