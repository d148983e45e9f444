// The real config checkers, run the way the integration tests run them: nginx -t with every path in a temp
// dir (-p, -e, and the template's own pid/temp paths), haproxy -c -q on the file.
import { execa } from 'execa';
import { join } from 'node:path';

export const NGINX = '/usr/sbin/nginx';
export const HAPROXY = '/usr/sbin/haproxy';

/** Outcome of one check: exit code 0 or the checker's own message. */
export interface CheckOutcome {
  ok: boolean;
  output: string;
}

/** `nginx -t -q` on conf, prefix and error log in dir. */
export async function nginxCheck(dir: string, conf: string): Promise<CheckOutcome> {
  const r = await execa(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-t', '-q', '-c', conf], { reject: false, all: true, timeout: 20_000 });
  return { ok: r.exitCode === 0, output: String(r.all ?? '') };
}

/** `haproxy -c -q` on conf. */
export async function haproxyCheck(conf: string): Promise<CheckOutcome> {
  const r = await execa(HAPROXY, ['-c', '-q', '-f', conf], { reject: false, all: true, timeout: 20_000 });
  return { ok: r.exitCode === 0, output: String(r.all ?? '') };
}

/** Runs jobs with at most `limit` in flight (two cores: keep it at 2). */
export async function inPool<T, R>(items: readonly T[], limit: number, job: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await job(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
