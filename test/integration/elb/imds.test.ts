// IMDSv2 against the loopback metadata endpoint: token first, then the GET with it; never a token-less GET.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchInstanceId, ImdsError } from '../../../src/elb/imds.js';
import { startFakeAws, type FakeAws } from '../../support/aws.js';
import { freePort } from '../../support/ports.js';

let fake: FakeAws;
const servers: Server[] = [];

beforeAll(async () => {
  fake = await startFakeAws({ instanceId: 'i-0fedcba9876543210' });
});
afterEach(() => {
  fake.imdsCalls.length = 0;
  fake.imdsStatus = undefined;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});
afterAll(async () => {
  await fake.close();
});

/** An HTTP server on loopback answering with `handler`. */
async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('fetchInstanceId (IMDSv2)', () => {
  it('PUTs for a token with a TTL, then GETs instance-id with that token', async () => {
    expect(await fetchInstanceId({ endpoint: `${fake.url}/` })).toBe('i-0fedcba9876543210');
    expect(fake.imdsCalls).toHaveLength(2);
    const [put, get] = fake.imdsCalls;
    expect(put).toMatchObject({ method: 'PUT', path: '/latest/api/token', ttl: '60', status: 200 });
    expect(get).toMatchObject({ method: 'GET', path: '/latest/meta-data/instance-id', status: 200 });
    expect(get?.token).toMatch(/^[0-9a-f-]{36}$/);
    // The fake refuses token-less GETs (401), like an instance with HttpTokens=required; none was made.
    expect(fake.imdsCalls.filter((c) => c.method === 'GET' && !c.token)).toEqual([]);
  });

  it('does not fall back to IMDSv1 when the token request fails', async () => {
    fake.imdsStatus = 500;
    await expect(fetchInstanceId({ endpoint: fake.url, attempts: 2, retryDelayMs: 10 })).rejects.toThrow(ImdsError);
    expect(fake.imdsCalls.map((c) => `${c.method} ${c.path}`)).toEqual(['PUT /latest/api/token', 'PUT /latest/api/token']);
  });

  it('says where it looked and what to do when nothing answers there', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const err = await fetchInstanceId({ endpoint, attempts: 2, retryDelayMs: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImdsError);
    expect((err as Error).message).toMatch(new RegExp(`IMDSv2\\) at ${endpoint}: PUT /latest/api/token: ECONNREFUSED`));
    expect((err as Error).message).toMatch(/pass --instance-id, or --imds-endpoint/);
  });

  it('times out quickly when the endpoint accepts but never answers (hop limit 1 in a container looks like this)', async () => {
    const endpoint = await serve(() => undefined);
    const begun = Date.now();
    const err = await fetchInstanceId({ endpoint, timeoutMs: 150, attempts: 2, retryDelayMs: 10 }).catch((e: unknown) => e);
    expect(Date.now() - begun).toBeLessThan(2000);
    expect((err as Error).message).toMatch(/no answer within 150 ms.*hop-limit 2/);
  });

  it('does not retry a 403 (metadata disabled for the instance) nor a body that is not an instance id', async () => {
    let puts = 0;
    const forbidden = await serve((req, res) => {
      if (req.method === 'PUT') puts++;
      res.writeHead(403).end();
    });
    await expect(fetchInstanceId({ endpoint: forbidden, attempts: 3, retryDelayMs: 10 })).rejects.toThrow(/HTTP 403: instance metadata is disabled/);
    expect(puts).toBe(1);
    fake.instanceId = '<html>captive portal</html>';
    try {
      await expect(fetchInstanceId({ endpoint: fake.url, attempts: 3, retryDelayMs: 10 })).rejects.toThrow(/not an instance id/);
      expect(fake.imdsCalls).toHaveLength(2);
    } finally {
      fake.instanceId = 'i-0fedcba9876543210';
    }
  });

  it('retries a transient failure', async () => {
    let n = 0;
    const flaky = await serve((req, res) => {
      n++;
      if (n === 1) return void res.writeHead(503).end();
      if (req.method === 'PUT') return void res.end('tok');
      res.end(req.headers['x-aws-ec2-metadata-token'] === 'tok' ? 'i-0123456789abcdef0' : 'no');
    });
    expect(await fetchInstanceId({ endpoint: flaky, retryDelayMs: 10 })).toBe('i-0123456789abcdef0');
  });

  it('refuses at once when AWS_EC2_METADATA_DISABLED=true', async () => {
    const before = process.env.AWS_EC2_METADATA_DISABLED;
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    try {
      await expect(fetchInstanceId({ endpoint: fake.url })).rejects.toThrow(/AWS_EC2_METADATA_DISABLED.*--instance-id/);
      expect(fake.imdsCalls).toEqual([]);
    } finally {
      if (before === undefined) delete process.env.AWS_EC2_METADATA_DISABLED;
      else process.env.AWS_EC2_METADATA_DISABLED = before;
    }
  });
});
