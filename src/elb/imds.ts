// EC2 instance metadata, IMDSv2 only: PUT a session token, then GET with it. (CoreOS's elb-presence used the
// unauthenticated IMDSv1 GET, which instances configured with HttpTokens=required refuse, and which is the path
// SSRF attacks on IMDS take.) Short timeouts, a few quick retries, and an error that says what to do.
import { nextDelay, sleep } from '../util/backoff.js';
import { SidekickError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/** Where EC2 serves instance metadata (IPv4). */
export const IMDS_DEFAULT_ENDPOINT = 'http://169.254.169.254';
/** The IPv6 endpoint, used when AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 (as the SDKs do). */
export const IMDS_IPV6_ENDPOINT = 'http://[fd00:ec2::254]';

export const TOKEN_PATH = '/latest/api/token';
export const INSTANCE_ID_PATH = '/latest/meta-data/instance-id';
export const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
export const TOKEN_HEADER = 'x-aws-ec2-metadata-token';

/** An EC2 instance id as IMDS returns it. */
export const INSTANCE_ID_RE = /^i-[0-9a-f]{8,17}$/;

/** Instance metadata could not be read. */
export class ImdsError extends SidekickError {}

/** An answer that retrying will not change (IMDS disabled, a garbage instance id). */
class FinalAnswer extends Error {}

/** Options of {@link fetchInstanceId}. */
export interface ImdsOptions {
  /** Base URL, e.g. http://169.254.169.254 (see {@link imdsEndpoint}). */
  endpoint: string;
  /** Deadline of each HTTP request, ms. Default 1000 (IMDS answers in microseconds when it is there at all). */
  timeoutMs?: number;
  /** Whole token+GET attempts before giving up. Default 3. */
  attempts?: number;
  /** Pause after the first failed attempt, doubled after each. Default 250 ms. */
  retryDelayMs?: number;
  /** Lifetime asked for the session token. We use it at once, so a minute is plenty. */
  tokenTtlSec?: number;
  log?: Logger;
}

/**
 * The IMDS base URL: the flag, else AWS_EC2_METADATA_SERVICE_ENDPOINT (the variable the AWS SDKs read), else the
 * IPv6 endpoint when AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6, else 169.254.169.254. Trailing slashes dropped.
 */
export function imdsEndpoint(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = flag ?? (env.AWS_EC2_METADATA_SERVICE_ENDPOINT || undefined);
  if (explicit !== undefined) return explicit.replace(/\/+$/, '');
  return env.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE?.toLowerCase() === 'ipv6' ? IMDS_IPV6_ENDPOINT : IMDS_DEFAULT_ENDPOINT;
}

/** One HTTP exchange with IMDS: status and body, bounded by timeoutMs. */
async function exchange(url: string, init: { method: string; headers: Record<string, string> }, timeoutMs: number): Promise<{ status: number; body: string }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown } }).cause;
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    const name = (err as { name?: unknown }).name;
    throw new Error(name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${timeoutMs} ms` : (code ?? errorMessage(err)), { cause: err });
  }
  const body = (await res.text()).trim();
  return { status: res.status, body };
}

/** One token+GET attempt. */
async function attempt(opts: Required<Pick<ImdsOptions, 'endpoint' | 'timeoutMs' | 'tokenTtlSec'>>): Promise<string> {
  const token = await exchange(`${opts.endpoint}${TOKEN_PATH}`, { method: 'PUT', headers: { [TOKEN_TTL_HEADER]: String(opts.tokenTtlSec) } }, opts.timeoutMs).catch(
    (err: unknown) => {
      throw new Error(
        `PUT ${TOKEN_PATH}: ${errorMessage(err)} (not on EC2? In a container on a bridge network the token needs an ` +
          'IMDS hop limit of 2: aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2)',
        { cause: err },
      );
    },
  );
  if (token.status === 403) throw new FinalAnswer(`PUT ${TOKEN_PATH}: HTTP 403: instance metadata is disabled for this instance`);
  if (token.status !== 200 || token.body === '') throw new Error(`PUT ${TOKEN_PATH}: HTTP ${token.status}`);
  const id = await exchange(`${opts.endpoint}${INSTANCE_ID_PATH}`, { method: 'GET', headers: { [TOKEN_HEADER]: token.body } }, opts.timeoutMs).catch((err: unknown) => {
    throw new Error(`GET ${INSTANCE_ID_PATH}: ${errorMessage(err)}`, { cause: err });
  });
  if (id.status !== 200) throw new Error(`GET ${INSTANCE_ID_PATH}: HTTP ${id.status}`);
  if (!INSTANCE_ID_RE.test(id.body)) throw new FinalAnswer(`GET ${INSTANCE_ID_PATH}: not an instance id: "${id.body.slice(0, 40)}"`);
  return id.body;
}

/**
 * This instance's id from IMDSv2: `PUT /latest/api/token` (with the TTL header), then
 * `GET /latest/meta-data/instance-id` with the token. Never falls back to a token-less (IMDSv1) GET.
 * Throws {@link ImdsError} naming the endpoint and what to do (pass --instance-id, --imds-endpoint).
 */
export async function fetchInstanceId(options: ImdsOptions): Promise<string> {
  const opts = { endpoint: options.endpoint.replace(/\/+$/, ''), timeoutMs: options.timeoutMs ?? 1000, tokenTtlSec: options.tokenTtlSec ?? 60 };
  if (process.env.AWS_EC2_METADATA_DISABLED?.toLowerCase() === 'true') {
    throw new ImdsError('instance metadata is disabled (AWS_EC2_METADATA_DISABLED=true): pass --instance-id');
  }
  const attempts = Math.max(1, options.attempts ?? 3);
  let delay = options.retryDelayMs ?? 250;
  let last: unknown;
  for (let n = 1; n <= attempts; n++) {
    try {
      return await attempt(opts);
    } catch (err) {
      last = err;
      if (err instanceof FinalAnswer || n === attempts) break;
      options.log?.debug({ endpoint: opts.endpoint, attempt: n, err: errorMessage(err) }, 'instance metadata not answering; retrying');
      await sleep(delay);
      delay = nextDelay(delay, Number.POSITIVE_INFINITY);
    }
  }
  throw new ImdsError(`instance id from instance metadata (IMDSv2) at ${opts.endpoint}: ${errorMessage(last)}; pass --instance-id, or --imds-endpoint`, {
    cause: last,
  });
}
