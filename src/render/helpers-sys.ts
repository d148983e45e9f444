// confd's functions that look outside the store: getenv, datetime, fileExists (confined to a sandbox
// folder) and the DNS lookups (served from the engine's cache; misses trigger a second pass).
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { inside, realInside } from '../util/paths.js';
import { isLookupName, requestKey, type DnsRequest } from './dns.js';
import { arity, helperError, splitArgs, stateOf, str, type Helper, type HelperOptions } from './context.js';

/** sidekick's own credentials: a template author can read them into a world-readable file unless the operator allows it. */
export const CREDENTIAL_VARS: readonly string[] = ['SIDEKICK_PASSWORD', 'CONFD_PASSWORD', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID'];
/** Lists the credential variables templates may read after all (comma-separated). */
export const GETENV_ALLOW_VAR = 'SIDEKICK_GETENV_ALLOW';

/** getenv's value for `name`; a credential variable not listed in SIDEKICK_GETENV_ALLOW is refused, naming both. */
function readEnv(options: HelperOptions, name: string): string | undefined {
  const allowed = (process.env[GETENV_ALLOW_VAR] ?? '').split(',').map((v) => v.trim());
  if (CREDENTIAL_VARS.includes(name) && !allowed.includes(name)) {
    throw helperError(options, `"${name}" holds sidekick's own credentials and is not given to templates (list it in ${GETENV_ALLOW_VAR} to allow it)`);
  }
  return process.env[name];
}

/**
 * confd's fileExists, confined: relative paths resolve against the sandbox, absolute ones must lie in it,
 * and the real path (symlinks followed) must stay in it. Without a sandbox it is always false.
 */
export function fileExistsIn(sandboxDir: string | undefined, path: string): boolean {
  if (!sandboxDir || path === '' || path.includes('\0')) return false;
  try {
    const root = resolve(sandboxDir);
    const target = resolve(root, path);
    if (!inside(root, target)) return false;
    return realInside(root, target);
  } catch {
    return false; // missing file, missing sandbox, permission denied
  }
}

/** A cached DNS answer, or [] after recording the miss for the engine's next pass. */
function cached(options: HelperOptions, req: DnsRequest): readonly unknown[] {
  const state = stateOf(options);
  if (!isLookupName(req.name)) return [];
  const hit = state.dns.get(req);
  if (hit) return hit;
  state.dnsMisses.set(requestKey(req), req);
  return [];
}

function ipHelper(keep: (ip: string) => boolean): Helper {
  return (...args: unknown[]) => {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const name = str(options, params[0], 'host name');
    return (cached(options, { kind: 'ip', name }) as string[]).filter(keep);
  };
}

/** The helpers that read the environment, the clock, the file system (fileExists sees only `sandboxDir`) and DNS. */
export function sysHelpers(sandboxDir: string | undefined): Record<string, Helper> {
  return {
    getenv(...args: unknown[]) {
      const { params, options } = splitArgs(args);
      arity(options, params, 1, 2);
      const value = readEnv(options, str(options, params[0], 'variable name'));
      if (value === undefined || value === '') return params.length === 2 ? str(options, params[1], 'default') : '';
      return value;
    },
    datetime(...args: unknown[]) {
      const { params, options } = splitArgs(args);
      arity(options, params, 0);
      return new Date();
    },
    fileExists(...args: unknown[]) {
      const { params, options } = splitArgs(args);
      arity(options, params, 1);
      return fileExistsIn(sandboxDir, str(options, params[0], 'path'));
    },
    lookupIP: ipHelper(() => true),
    lookupIPV4: ipHelper((ip) => isIP(ip) === 4),
    lookupIPV6: ipHelper((ip) => isIP(ip) === 6),
    lookupSRV(...args: unknown[]) {
      const { params, options } = splitArgs(args);
      arity(options, params, 3);
      const [service, proto, name] = [0, 1, 2].map((i) => str(options, params[i], `argument ${i + 1}`)) as [string, string, string];
      // Go's net.LookupSRV: with service and proto empty the name is looked up as given.
      const full = service === '' && proto === '' ? name : `_${service}._${proto}.${name}`;
      return cached(options, { kind: 'srv', name: full }).map((r) => ({ ...(r as object) }));
    },
  };
}
