// Error texts: URL credentials never shown, etcd's gRPC errors as one readable line.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { etcdConnection } from '../../../src/config/sidecar-config.js';
import { redact } from '../../../src/http/health.js';
import { ConfigError, errorMessage, maskUrlCredentials, StoreError } from '../../../src/util/errors.js';
import { createLogger } from '../../../src/util/log.js';

describe('credentials in an etcd node URL', () => {
  it('are taken as username and password and removed from the node etcd is dialled at', () => {
    const c = etcdConnection({ etcd: ['http://sidekick:p%40ss@127.0.0.1:2379', '127.0.0.2:2379'] });
    expect(c).toMatchObject({ nodes: ['http://127.0.0.1:2379', 'http://127.0.0.2:2379'], username: 'sidekick', password: 'p@ss' });
    expect(etcdConnection({ node: ['http://u:pw@h:1'], username: 'u', password: 'pw' })).toMatchObject({ nodes: ['http://h:1'], username: 'u', password: 'pw' });
  });

  it('must agree with --username/--password and across nodes, and the refusal shows neither', () => {
    const differ = () => etcdConnection({ etcd: ['http://u:secret1@h:1'], password: 'secret2' });
    expect(differ).toThrow('--etcd: node: the password in the node URLs and the password given otherwise (--password, the environment or the config file) differ; give it once');
    expect(() => etcdConnection({ etcd: ['http://a:secret1@h:1', 'http://b:secret1@h:2'] })).toThrow('the username in the node URLs');
  });
});

describe('masking', () => {
  const gRPC = '14 UNAVAILABLE: Name resolution failed for target dns:u:pw@127.0.0.1:2379';

  it('every error text, with or without the scheme, in errors, /healthz details and log lines', () => {
    expect(maskUrlCredentials('got "http://u:pw@h:1/x" and https://tok@h')).toBe('got "http://***@h:1/x" and https://***@h');
    expect(errorMessage(new Error(gRPC))).not.toContain('pw');
    expect(new StoreError(`cannot read etcd: ${gRPC}`).message).not.toContain('pw');
    expect(new ConfigError('bad', { where: 'http://u:pw@h' }).message).toBe('http://***@h: bad');
    expect(redact(`stale: ${gRPC}`)).not.toContain('pw');
    let out = '';
    const destination = new Writable({ write: (chunk: Buffer, _enc, cb) => ((out += chunk.toString()), cb()) });
    createLogger({ destination }).warn({ err: gRPC, node: 'http://u:pw@h:1' }, `dialling http://u:pw@h:1`);
    expect(out).toContain('"msg":"dialling http://***@h:1"');
    expect(out).not.toContain('pw');
  });

  it('leaves texts without credentials alone', () => {
    for (const t of ['key /services/web: a:b', 'mail a@b.c', 'owner: no user "www@x"', 'ignoring /services/api/-:0::@p1..4', 'id a:b@c']) {
      expect(maskUrlCredentials(t)).toBe(t);
    }
  });
});

describe("etcd's gRPC errors", () => {
  it('are one readable line: code in words, no resolution note, no timestamp', () => {
    expect(errorMessage(new Error('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2399. Resolution note: '))).toBe(
      'unavailable: no connection established (connect ECONNREFUSED 127.0.0.1:2399)',
    );
    expect(errorMessage(new Error('etcd watch lost: 14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1 (2026-12-04T16:00:00.000Z). Resolution note: x'))).toBe(
      'etcd watch lost: unavailable: no connection established (connect ECONNREFUSED 127.0.0.1:1)',
    );
    expect(errorMessage(new Error('14 UNAVAILABLE: No connection established. Last error: null. Resolution note: '))).toBe('unavailable: no connection established');
    expect(errorMessage(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded after 5.001s,LB pick: 0.001s,waiting for name resolution'))).toBe(
      'deadline exceeded: Deadline exceeded after 5.001s',
    );
  });
});
