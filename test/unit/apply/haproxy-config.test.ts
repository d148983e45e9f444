// haproxy configs read as backends → servers: which differences the runtime API can apply and which need a reload.
import { describe, expect, it } from 'vitest';
import { diffConfigs, parseAddress, parseServerLine } from '../../../src/apply/haproxy-config.js';
import { compareLive, parseServersState } from '../../../src/apply/haproxy-runtime.js';

const cfg = (servers: string[], opts: { defaults?: string; balance?: string; extra?: string } = {}): string =>
  [
    'defaults',
    '    mode http',
    ...(opts.defaults ? [`    ${opts.defaults}`] : []),
    'frontend fe',
    '    bind :80',
    '    default_backend be_web',
    '',
    'backend be_web',
    `    balance ${opts.balance ?? 'roundrobin'}`,
    ...servers.map((s) => `    server ${s}`),
    ...(opts.extra ? [opts.extra] : []),
    '',
  ].join('\n');

describe('parseAddress', () => {
  it.each([
    ['10.0.0.5:8080', { ip: '10.0.0.5', port: 8080 }],
    ['[fd00::6]:8080', { ip: 'fd00::6', port: 8080 }],
    ['[fd00:0:0::6]:80', { ip: 'fd00::6', port: 80 }],
    ['::1:9000', { ip: '::1', port: 9000 }],
    ['web.local:80', undefined],
    ['10.0.0.5', undefined],
    ['10.0.0.5:+1', undefined],
    ['10.0.0.5:0', undefined],
    ['unix@/run/x.sock', undefined],
  ])('%s', (address, expected) => expect(parseAddress(address)).toEqual(expected));
});

describe('parseServerLine', () => {
  it('takes weight out of the options and keeps every other keyword with its value', () => {
    expect(parseServerLine('server a 10.0.0.1:80 check inter 2s weight 5 fall 3'.split(' '))).toEqual({
      name: 'a', address: '10.0.0.1:80', ip: '10.0.0.1', port: 80, weight: 5, weightGiven: true, options: ['check', 'inter', '2s', 'fall', '3'],
    });
  });
  it.each([
    ['server a 10.0.0.1:80 init-addr none', /"init-addr" is not a keyword add server takes/],
    ['server a 10.0.0.1:80 track be/b', /"track"/],
    ['server a web.local:80 check', /not an IP literal/],
  ])('%s cannot be made by add server', (line, reason) => expect(parseServerLine(line.split(' ')).notDynamic).toMatch(reason));
});

describe('diffConfigs', () => {
  const a = 'a 10.0.0.1:80 check inter 2s';
  const b = 'b 10.0.0.2:80 check inter 2s';
  it.each([
    ['a server added', [a], [a, b], [{ op: 'add', name: 'b' }]],
    ['a server removed', [a, b], [a], [{ op: 'remove', name: 'b' }]],
    ['an address changed', [a], ['a 10.0.0.9:80 check inter 2s'], [{ op: 'change', name: 'a' }]],
    ['a port changed', [a], ['a 10.0.0.1:81 check inter 2s'], [{ op: 'change', name: 'a' }]],
    ['a weight changed', [a], ['a 10.0.0.1:80 check inter 2s weight 7'], [{ op: 'change', name: 'a' }]],
    ['servers reordered', [a, b], [b, a], []],
    ['one replaced by another', [a], [b], [{ op: 'remove', name: 'a' }, { op: 'add', name: 'b' }]],
  ])('%s: membership', (_what, before, after, expected) => {
    const diff = diffConfigs(cfg(before), cfg(after));
    expect(diff.kind).toBe('membership');
    const got = diff.kind === 'membership' ? diff.changes.map((c) => ({ op: c.op, name: c.op === 'change' ? c.to.name : c.server.name })) : [];
    expect(got).toEqual(expected);
  });

  it('a comment or a blank line is not a change', () => {
    expect(diffConfigs(cfg([a]), cfg([a]).replace('frontend fe', '# routing\n\nfrontend fe'))).toEqual({ kind: 'membership', changes: [] });
  });

  it.each([
    ['balance changed', cfg([a]), cfg([a], { balance: 'leastconn' }), /balance leastconn/],
    ['a new backend', cfg([a]), `${cfg([a])}backend be_api\n    server x 10.0.0.3:80\n`, /backend be_api/],
    ['a server keyword changed', cfg([a]), cfg(['a 10.0.0.1:80 check inter 3s']), /changed more than its address and weight/],
    ['an added server add server cannot take', cfg([a]), cfg([a, 'b 10.0.0.2:80 check resolvers dns']), /server b cannot be added at runtime: "resolvers"/],
    ['an added server named by host', cfg([a]), cfg([a, 'b web.local:80 check']), /not an IP literal/],
    ['an address changed to a host name', cfg([a]), cfg(['a web.local:80 check inter 2s']), /not an IP literal/],
    [
      'an added server would inherit default-server settings',
      cfg([a], { defaults: 'default-server inter 2s fall 3 init-addr last,libc,none' }),
      cfg([a, 'b 10.0.0.2:80 check inter 2s'], { defaults: 'default-server inter 2s fall 3 init-addr last,libc,none' }),
      /inherit default-server fall/,
    ],
    [
      'a default-server weight the added server does not set',
      cfg([a], { defaults: 'default-server weight 10' }),
      cfg([a, b], { defaults: 'default-server weight 10' }),
      /inherit default-server weight/,
    ],
    ['a backend with server-template', cfg([a], { extra: '    server-template s 3 10.0.0.9:80' }), cfg([a, b], { extra: '    server-template s 3 10.0.0.9:80' }), /server-template/],
    ['a quoted server line', cfg([a]), cfg([a, 'b "10.0.0.2:80"']), /a line other than/],
    ['servers of an indented listen section', `${cfg([a])}  listen li\n    server x 10.0.0.3:80\n`, `${cfg([a])}  listen li\n    server x 10.0.0.4:80\n`, /server x 10.0.0.4:80/],
  ])('%s: structural', (_what, before, after, reason) => {
    const diff = diffConfigs(before, after);
    expect(diff.kind).toBe('structural');
    expect(diff.kind === 'structural' && diff.reason).toMatch(reason);
  });

  it('default-server settings the added server repeats, and init-addr, do not block it', () => {
    const defaults = 'default-server inter 2s fall 3 rise 2 init-addr last,libc,none';
    const diff = diffConfigs(cfg([a], { defaults }), cfg([a, 'b 10.0.0.2:80 check inter 2s fall 3 rise 2'], { defaults }));
    expect(diff.kind).toBe('membership');
  });
});

describe('compareLive', () => {
  const state = (rows: string[]): string =>
    ['1', '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port', ...rows].join('\n');
  const row = (name: string, addr: string, port: number, admin = 0, weight = 1): string => `3 be_web 1 ${name} ${addr} 2 ${admin} ${weight} ${weight} 1 8 2 0 6 0 0 0 - ${port} - 0 0 - - 0`;
  const where = { socket: '/s', where: 'r' };
  const text = cfg(['a 10.0.0.1:80 check', 'b [fd00::2]:80 weight 3']);

  it('agrees when names, addresses, ports and the touched servers\' weights match', () => {
    expect(compareLive(text, parseServersState(state([row('a', '10.0.0.1', 80), row('b', 'fd00:0::2', 80, 0, 3)]), where), new Set(['be_web/b']))).toEqual([]);
  });
  it.each([
    ['a missing server', [row('a', '10.0.0.1', 80)], /be_web\/b is not running/],
    ['an extra server', [row('a', '10.0.0.1', 80), row('b', 'fd00::2', 80, 0, 3), row('c', '10.0.0.3', 80)], /be_web\/c runs but is not in the file/],
    ['another port', [row('a', '10.0.0.1', 81), row('b', 'fd00::2', 80, 0, 3)], /be_web\/a runs at 10.0.0.1:81/],
    ['a touched server in maintenance', [row('a', '10.0.0.1', 80), row('b', 'fd00::2', 80, 1, 3)], /be_web\/b is in maintenance/],
    ['a touched server with another weight', [row('a', '10.0.0.1', 80), row('b', 'fd00::2', 80, 0, 1)], /weight 1, the file says 3/],
  ])('%s', (_what, rows, problem) => {
    expect(compareLive(text, parseServersState(state(rows), where), new Set(['be_web/b'])).join('; ')).toMatch(problem);
  });
  it('refuses an answer that is not a servers state dump (the master CLI, say)', () => {
    expect(() => parseServersState('Unknown command', where)).toThrow(/is it a stats socket of a worker/);
  });
});
