// `sidekick register` drains: a plain `docker stop` of a container that opted in (a StopSignal its app ignores and
// SERVICE_DRAIN naming the one it stops on) loses no request behind a real nginx driven by a real `render --watch`.
// Everything runs for real on loopback: a private dockerd with busybox httpd containers, etcd, nginx, sidekick from dist/.
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines, sidekick } from '../../support/cli.js';
import { runContainer } from '../../support/docker.js';
import { useDockerEtcd } from '../../support/docker-etcd.js';
import { freePort } from '../../support/ports.js';
import { nginxHttpPaths, nginxPreamble, startNginx, waitFor, type NginxHandle } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';

const env = useDockerEtcd();

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sidekick-regdrain-'));
});
afterAll(async () => cleanup?.());

/** busybox httpd on 127.0.0.1:port answering POST /cgi-bin/post with "ok-<port>" (a CGI script: busybox serves POST only so). */
const postServer = (port: number): string[] => [
  'sh',
  '-c',
  `mkdir -p /www/cgi-bin && echo ok > /www/index.html && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho ok-${port}\\n' > /www/cgi-bin/post && chmod +x /www/cgi-bin/post && exec httpd -f -p 127.0.0.1:${port} -h /www`,
];

/** The nginx.conf for `servers` (the same text the template renders): an upstream with a placeholder when empty. */
function nginxConf(work: string, listen: number, servers: string): string {
  return `${nginxPreamble(work)}
http {
  ${nginxHttpPaths(work)}
  upstream web {
${servers}
  }
  server {
    listen 127.0.0.1:${listen};
    location / { proxy_pass http://web; }
  }
}
`;
}

/** nginx behind `render --watch` (reload_signal HUP on nginx's pid file) rendering the native layout's "web". */
async function nginxRenderer(work: string): Promise<{ nginx: NginxHandle; render: ResultPromise; port: number; conf: string }> {
  const port = await freePort();
  const conf = join(work, 'nginx.conf');
  await mkdir(join(work, 'conf.d'), { recursive: true });
  await mkdir(join(work, 'templates'), { recursive: true });
  await writeFile(conf, nginxConf(work, port, '    server 127.0.0.1:9 down;'));
  const servers = '{{#each (service "web")}}\n    server {{address}};\n{{else}}\n    server 127.0.0.1:9 down;\n{{/each}}';
  await writeFile(join(work, 'templates/nginx.conf.tmpl'), nginxConf(work, port, servers));
  await writeFile(
    join(work, 'conf.d/web.toml'),
    [
      '[template]',
      'src = "nginx.conf.tmpl"',
      `dest = "${conf}"`,
      'keys = ["/services/web"]',
      `check_cmd = "/usr/sbin/nginx -t -q -p ${work} -c {{.src}}"`,
      'reload_signal = "HUP"',
      `pid_file = "${join(work, 'nginx.pid')}"`,
    ].join('\n'),
  );
  const nginx = await startNginx(work, conf);
  const render = env.track(sidekick(['render', '--watch', '--confdir', work, '--node', env.etcd.endpoint, '--node-name', 'lb1']));
  return { nginx, render, port, conf };
}

/** Continuous POSTs through nginx, 4 at a time, until stopped (bounded: 20 000 requests or 60 s). */
function postLoad(port: number): { stop: () => Promise<{ ok: number; failed: string[]; seen: Map<string, number> }> } {
  let running = true;
  let sent = 0;
  const failed: string[] = [];
  const seen = new Map<string, number>();
  const until = Date.now() + 60_000;
  const worker = async (): Promise<void> => {
    while (running && sent < 20_000 && Date.now() < until) {
      sent++;
      try {
        // A fresh connection per request: a reload closes nginx's idle keep-alive connections, and a POST sent on
        // one at that moment fails between client and nginx, whatever the backends do.
        const res = await fetch(`http://127.0.0.1:${port}/cgi-bin/post`, {
          method: 'POST',
          body: `n=${sent}`,
          headers: { connection: 'close' },
          signal: AbortSignal.timeout(5000),
        });
        const body = (await res.text()).trim();
        if (res.status !== 200) failed.push(`${res.status} ${body.slice(0, 80)}`);
        else seen.set(body, (seen.get(body) ?? 0) + 1);
      } catch (err) {
        failed.push(`${String(err)} ${String((err as { cause?: unknown }).cause)}`);
      }
    }
  };
  const workers = Promise.all(Array.from({ length: 4 }, worker));
  return {
    stop: async () => {
      running = false;
      await workers;
      return { ok: [...seen.values()].reduce((a, b) => a + b, 0), failed, seen };
    },
  };
}

describe('register drains on docker stop', () => {
  it('a SERVICE_DRAIN container stopped with `docker stop` loses no request: deregistered, acknowledged by the renderer, then SIGTERM', async () => {
    const work = join(dir, 'drain');
    const reg = env.track(
      sidekick(['register', '--docker', env.dockerd.address, '--etcd', env.etcd.endpoint, '--ip', '127.0.0.1', '--node-name', 'h1', '--ttl', '5s', '--drain-timeout', '8s']),
    );
    const [portA, portB] = await Promise.all([freePort(), freePort()]);
    const labels = (port: number) => ({ [`SERVICE_${port}_NAME`]: 'web', SERVICE_CHECK_HTTP: '/', SERVICE_CHECK_INTERVAL: '300ms' });
    const a = await runContainer(env.dockerd.docker, {
      name: 'drained',
      cmd: postServer(portA),
      stopSignal: 'SIGWINCH',
      labels: { ...labels(portA), SERVICE_DRAIN: 'SIGTERM' },
    });
    await runContainer(env.dockerd.docker, { name: 'stays', cmd: postServer(portB), labels: labels(portB) });
    const { nginx, render, port } = await nginxRenderer(work);
    try {
      // Both backends answer through nginx before the stop.
      const answered = new Set<string>();
      await waitFor(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/cgi-bin/post`, { method: 'POST', body: 'x' });
        answered.add((await res.text()).trim());
        return answered.has(`ok-${portA}`) && answered.has(`ok-${portB}`);
      }, 20_000);

      const load = postLoad(port);
      await new Promise((r) => setTimeout(r, 300));
      const started = performance.now();
      await env.dockerd.docker.getContainer(a.id).stop({ t: 30 });
      const stopMs = performance.now() - started;
      await new Promise((r) => setTimeout(r, 300));
      const result = await load.stop();

      expect(result.failed).toEqual([]);
      expect(result.seen.get(`ok-${portA}`) ?? 0).toBeGreaterThan(0);
      expect(result.seen.get(`ok-${portB}`) ?? 0).toBeGreaterThan(0);
      // SERVICE_DRAIN stopped it (SIGTERM: 143), long before `docker stop -t 30` would have SIGKILLed it (137).
      const state = (await env.dockerd.docker.getContainer(a.id).inspect()).State;
      expect(state.ExitCode).toBe(143);
      expect(stopMs).toBeLessThan(8000);
    } finally {
      await nginx.stop();
    }
    reg.kill('SIGTERM');
    render.kill('SIGTERM');
    const lines = logLines(String((await reg).stderr));
    const drained = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('drained'));
    expect(drained).toMatchObject({ container: 'drained', signal: 'SIGTERM', services: `h1:drained:${portA}`, acknowledged: ['lb1/web.toml'], pending: [] });
    await render;
  });
});

describe('register drain flags', () => {
  it.each([
    [['--drain-timeout', '0'], /--drain-timeout: must be longer than 0/],
    [['--drain-timeout', 'soon'], /--drain-timeout/],
    [['--drain-timeout', '1s', '--drain-delay', '2s'], /--drain-delay: must not exceed --drain-timeout/],
  ])('%j is refused with an error naming the flag', async (flags, message) => {
    const run = await sidekick(['register', '--docker', env.dockerd.address, '--etcd', env.etcd.endpoint, ...flags]);
    expect(run.exitCode).not.toBe(0);
    expect(String(run.stderr)).toMatch(message);
  });
});
