// The maintenance keys of `sidekick drain`: what a request and an answer may hold, and which are refused.
import { describe, expect, it } from 'vitest';
import { containerTarget, drainedKey, maintenanceKey, maintenanceValue, parseDrained, parseMaintenance } from '../../../src/drain/maintenance.js';

describe('maintenance requests', () => {
  it('round-trip: the key names the instance, the value carries the reason', () => {
    const key = maintenanceKey('h1:web:8080');
    expect(key).toBe('/sidekick/maintenance/h1:web:8080');
    expect(parseMaintenance(key, maintenanceValue('kernel update'))).toEqual({ name: 'h1:web:8080', reason: 'kernel update' });
    expect(parseMaintenance(maintenanceKey(containerTarget('ab'.repeat(32))), '{}')).toEqual({ name: `docker:${'ab'.repeat(32)}`, reason: '' });
    expect(drainedKey('h1:web:8080')).toBe('/sidekick/drained/h1:web:8080');
  });

  it.each([
    ['/sidekick/maintenance/', '{}', /instance id must not be empty/],
    ['/sidekick/maintenance/a/b', '{}', /may only hold/],
    ['/sidekick/maintenance/x y', '{}', /may only hold/],
    ['/sidekick/maintenancex/a', '{}', /not below/],
    ['/sidekick/maintenance/a', 'not json', /not JSON/],
    ['/sidekick/maintenance/a', '[1]', /not a JSON object/],
    ['/sidekick/maintenance/a', '{"reason":42}', /reason must be a string/],
    ['/sidekick/maintenance/a', `{"reason":"${'x'.repeat(70_000)}"}`, /longer than/],
  ])('refuses %s = %s', (key, value, reason) => {
    const parsed = parseMaintenance(key, value);
    expect(typeof parsed).toBe('string');
    expect(parsed).toMatch(reason);
  });
});

describe('drained answers', () => {
  it('carry the revision and the deleted keys; anything else is refused', () => {
    expect(parseDrained('{"revision":12,"keys":["/services/web/h1:web:80"]}')).toEqual({ revision: 12, keys: ['/services/web/h1:web:80'] });
    expect(parseDrained('{"revision":0,"keys":[]}')).toEqual({ revision: 0, keys: [] });
    for (const bad of ['', 'null', '{"revision":-1,"keys":[]}', '{"revision":1.5,"keys":[]}', '{"revision":1,"keys":["rel"]}', '{"revision":1}']) {
      expect(typeof parseDrained(bad), bad).toBe('string');
    }
  });
});
