// Key paths: the canonical prefix form (root ""), keyPath (root "/"), keyUnder, collapsePrefixes, prefixRange.
import { describe, expect, it } from 'vitest';
import { absolutePrefix, collapsePrefixes, keyPath, keyUnder, normalizePrefix, prefixRange } from '../../../src/util/key-path.js';

describe('normalizePrefix (store-level prefixes)', () => {
  it.each<[string, string]>([
    ['/services', '/services'],
    ['/services/', '/services'],
    ['/services//', '/services'],
    ['/', ''],
    ['//', ''],
    ['', ''],
    ['services/', 'services'],
    ['/a//b/', '/a//b'],
  ])('normalizePrefix(%j) = %j', (input, expected) => {
    expect(normalizePrefix(input)).toBe(expected);
  });
});

describe('absolutePrefix and keyPath', () => {
  it.each<[string, string]>([
    ['/services', '/services'],
    ['services', '/services'],
    ['/services/', '/services'],
    ['//a//b//', '/a/b'],
    ['/', ''],
    ['//', ''],
    ['', ''],
    ['/services/./x/../y', '/services/y'],
    ['../../etc', '/etc'],
  ])('absolutePrefix(%j) = %j', (input, expected) => {
    expect(absolutePrefix(input)).toBe(expected);
    expect(keyPath(input)).toBe(expected === '' ? '/' : expected);
  });

  it('joins parts as paths', () => {
    expect(absolutePrefix()).toBe('');
    expect(keyPath()).toBe('/');
    expect(keyPath('', '')).toBe('/');
    expect(keyPath('/', '/')).toBe('/');
    expect(keyPath('/prod', 'services/web')).toBe('/prod/services/web');
    expect(keyPath('prod/', '/services/')).toBe('/prod/services');
    expect(keyPath('/prod', '/')).toBe('/prod');
    expect(absolutePrefix('//a//b/', '')).toBe('/a/b');
  });
});

describe('keyUnder', () => {
  it.each<[string, string, boolean]>([
    ['/a', '/a', true],
    ['/a/b', '/a', true],
    ['/a/b', '/a/', true],
    ['/a/b', '/a//', true],
    ['/a', '/a/', true],
    ['/a/', '/a/', true],
    ['/ab', '/a', false],
    ['/servicesX/web', '/services', false],
    ['/servicesX', '/services', false],
    ['/services', '/services/web', false],
    ['/services/web/1', '/services/web', true],
    ['anything', '/', true],
    ['anything', '', true],
    ['anything', '//', true],
    ['', '', true],
    ['a/b', 'a', true],
    ['ab', 'a', false],
  ])('keyUnder(%j, %j) = %s', (key, prefix, expected) => {
    expect(keyUnder(key, prefix)).toBe(expected);
  });
});

describe('collapsePrefixes', () => {
  it('drops prefixes covered by another one', () => {
    expect(collapsePrefixes(['/s/web', '/s', '/s/db/', '/sx', '/s'])).toEqual(['/s', '/sx']);
    expect(collapsePrefixes(['/a', '/'])).toEqual(['']);
    expect(collapsePrefixes(['/a', '//'])).toEqual(['']);
    expect(collapsePrefixes(['/services', '/servicesX'])).toEqual(['/services', '/servicesX']);
    expect(collapsePrefixes([])).toEqual([]);
  });
});

describe('prefixRange', () => {
  it('covers p, p/… and the root as etcd ranges', () => {
    expect(prefixRange('/s/')).toEqual({ start: '/s', end: '/s0' });
    expect(prefixRange('/s')).toEqual({ start: '/s', end: '/s0' });
    expect(prefixRange('/')).toEqual({ start: '\0', end: '\0' });
    expect(prefixRange('')).toEqual({ start: '\0', end: '\0' });
  });
});
