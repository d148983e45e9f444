// `sidekick ls`: the registered services as a table, or JSON for scripts.
import { Command } from 'commander';
import { addEtcdOptions, ETCD_OPTIONS, etcdConnection, SIDECAR_DEFAULTS } from '../config/sidecar-config.js';
import { addSettings, sidekickSetting, type FlagsOf, type SettingSpec } from '../config/settings-table.js';
import { listRenderers, type ListedRenderer } from '../drain/acks.js';
import { formatAddress } from '../util/address.js';
import { listServices, type ListedService } from '../registry/list.js';
import { createEtcdClient } from '../store/etcd-client.js';
import { errorMessage } from '../util/errors.js';

/** ls's own options, after the etcd ones. */
const LS_OPTIONS = [
  sidekickSetting({ flag: 'prefix', value: '<path>', help: 'key prefix of the records', defaultHelp: SIDECAR_DEFAULTS.prefix, kind: 'string' }),
  sidekickSetting({ flag: 'json', help: 'print JSON (one array) for scripts', kind: 'bool' }),
  sidekickSetting({ flag: 'renderers', help: 'list the renderers instead: each resource, the etcd revision it has applied, and whether it is behind', kind: 'bool' }),
] as const satisfies readonly SettingSpec[];

/** The options of `ls`, as commander returns them. */
type LsFlags = FlagsOf<typeof ETCD_OPTIONS> & FlagsOf<typeof LS_OPTIONS>;

/** Declares `ls`. */
export function lsCommand(): Command {
  const cmd = new Command('ls').description('List the services registered in etcd: service, id, address, node, tags, lease TTL left');
  addEtcdOptions(cmd);
  addSettings(cmd, LS_OPTIONS);
  cmd.action(async (flags: LsFlags) => {
    const client = await createEtcdClient(etcdConnection(flags));
    try {
      if (flags.renderers) {
        const { renderers, problems } = await listRenderers(client);
        for (const p of problems) process.stderr.write(`sidekick ls: skipping ${printable(p.key)}: ${printable(p.reason)}\n`);
        process.stdout.write(flags.json ? `${JSON.stringify(renderers, null, 2)}\n` : formatRenderers(renderers));
        return;
      }
      const { services, problems } = await listServices(client, flags.prefix ?? SIDECAR_DEFAULTS.prefix);
      for (const p of problems) process.stderr.write(`sidekick ls: skipping ${printable(p.key)}: ${printable(p.reason)}\n`);
      process.stdout.write(flags.json ? `${JSON.stringify(services, null, 2)}\n` : formatTable(services));
    } catch (err) {
      process.stderr.write(`sidekick ls: cannot read etcd: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    } finally {
      client.close();
    }
  });
  return cmd;
}

const HEADER = ['SERVICE', 'ID', 'ADDRESS', 'NODE', 'TAGS', 'TTL'];

/** Aligned columns under `header`; the last column is not padded. Cells come from etcd: control characters are escaped. */
function columns(header: string[], rows: string[][]): string {
  const all = [header, ...rows.map((r) => r.map(printable))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] as string).length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ')).join('\n') + '\n';
}

/** One row per renderer resource: what it has applied, when, and "behind (rev N)" while a newer change is pending. */
export function formatRenderers(renderers: ListedRenderer[]): string {
  const rows = renderers.map((r) => [r.renderer, String(r.revision), r.behind > 0 ? `behind (${r.behind})` : 'current', r.at || '-', r.keys.join(',')]);
  return columns(['RENDERER', 'REVISION', 'STATE', 'APPLIED', 'KEYS'], rows);
}

/** Aligned columns, one row per instance; TTL "-" for a key without a lease, "expired" for a dead one. */
export function formatTable(services: ListedService[]): string {
  const rows = services.map((s) => [
    s.name,
    s.id,
    formatAddress(s.host, s.port),
    s.node ?? '-',
    s.tags.length > 0 ? s.tags.join(',') : '-',
    s.ttlLeft === null ? '-' : s.ttlLeft < 0 ? 'expired' : `${s.ttlLeft}s`,
  ]);
  return columns(HEADER, rows);
}

// C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Text from etcd made safe for a terminal: control characters shown escaped (`\x1b`, `\n`), as the JSON logs do. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return SHORT[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}
