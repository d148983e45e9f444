import { describe, expect, it } from 'vitest';
import { ACK_PREFIX, ackCovers, ackKey, ackValue, isAckKey, parseAck, type Ack } from '../../../src/drain/acks.js';

describe('renderer acknowledgements', () => {
  it('round-trips a key and value, node and resource names percent-encoded', () => {
    const key = ackKey('edge-1', 'nginx.toml/2');
    expect(key).toBe(`${ACK_PREFIX}/edge-1/nginx.toml%2F2`);
    const ack = parseAck(key, ackValue(42, ['/services/web'], new Date(0)));
    expect(ack).toEqual({
      renderer: 'edge-1/nginx.toml/2',
      node: 'edge-1',
      resource: 'nginx.toml/2',
      revision: 42,
      at: '1970-01-01T00:00:00.000Z',
      keys: ['/services/web'],
    });
  });

  it.each([
    ['/sidekick/renderers/a', '{"revision":1,"keys":["/"]}', /expected \/sidekick\/renderers\/<node>\/<resource>/],
    ['/sidekick/renderers/a/b/c', '{"revision":1,"keys":["/"]}', /expected/],
    ['/sidekick/renderers/a/%E0', '{"revision":1,"keys":["/"]}', /percent-encoding/],
    ['/sidekick/renderers/a/b', 'not json', /not JSON; expected \{"revision"/],
    ['/sidekick/renderers/a/b', '[1]', /not a JSON object/],
    ['/sidekick/renderers/a/b', '{"revision":"9","keys":["/"]}', /revision must be a whole number/],
    ['/sidekick/renderers/a/b', '{"revision":-1,"keys":["/"]}', /revision must be a whole number/],
    ['/sidekick/renderers/a/b', '{"revision":1.5,"keys":["/"]}', /revision must be a whole number/],
    ['/sidekick/renderers/a/b', '{"revision":1,"keys":[]}', /keys must be a non-empty list/],
    ['/sidekick/renderers/a/b', '{"revision":1,"keys":["services"]}', /absolute key prefixes/],
    ['/sidekick/renderers/a/b', `{"revision":1,"keys":["/${'x'.repeat(70_000)}"]}`, /longer than/],
    ['/sidekick/elsewhere/a/b', '{"revision":1,"keys":["/"]}', /not below/],
  ])('refuses %s = %s', (key, value, reason) => {
    expect(parseAck(key, value)).toMatch(reason);
  });

  it('covers a record key below any of its prefixes, as paths', () => {
    const ack = parseAck(ackKey('n', 'r'), ackValue(1, ['/services/web', '/config'])) as Ack;
    expect(ackCovers(ack, ['/services/web/a'])).toBe(true);
    expect(ackCovers(ack, ['/services/api/a', '/config'])).toBe(true);
    expect(ackCovers(ack, ['/services/webx/a'])).toBe(false);
    expect(ackCovers(parseAck(ackKey('n', 'r'), ackValue(1, ['/'])) as Ack, ['/anything/at/all'])).toBe(true);
  });

  it('recognizes the reserved folder', () => {
    expect(isAckKey(ackKey('n', 'r'))).toBe(true);
    expect(isAckKey('/sidekick/renderersx/n/r')).toBe(false);
    expect(isAckKey('/services/web/a')).toBe(false);
  });
});
