import { describe, expect, it } from 'vitest';
import { commandArgv, parseCommand } from '../../../src/util/command-line.js';

describe('parseCommand', () => {
  it.each([
    ['/usr/sbin/nginx -t -c {{.src}}', { shell: false, argv: ['/usr/sbin/nginx', '-t', '-c', '{{.src}}'] }],
    ['haproxy -c -f "{{ .src }}"', { shell: false, argv: ['haproxy', '-c', '-f', '{{ .src }}'] }],
    ["echo 'a b'  \"c d\" e\\ f", { shell: false, argv: ['echo', 'a b', 'c d', 'e f'] }],
    ['nginx -s reload', { shell: false, argv: ['nginx', '-s', 'reload'] }],
    ['systemctl reload nginx && echo done', { shell: true, line: 'systemctl reload nginx && echo done' }],
    ['kill -HUP $(cat /run/nginx.pid)', { shell: true, line: 'kill -HUP $(cat /run/nginx.pid)' }],
    ['cat x | wc', { shell: true, line: 'cat x | wc' }],
    ['FOO=1 cmd', { shell: true, line: 'FOO=1 cmd' }],
    ['echo "$HOME"', { shell: true, line: 'echo "$HOME"' }],
    ["echo '$HOME'", { shell: false, argv: ['echo', '$HOME'] }],
    ['! grep -q x /tmp/f', { shell: true, line: '! grep -q x /tmp/f' }],
    ['echo !', { shell: false, argv: ['echo', '!'] }],
    ['!cmd', { shell: false, argv: ['!cmd'] }],
  ])('%s', (line, expected) => {
    expect(parseCommand(line)).toEqual(expected);
  });

  it('rejects empty lines, an empty command name and open quotes', () => {
    expect(() => parseCommand('   ')).toThrow(/empty command/);
    expect(() => parseCommand("'' arg")).toThrow(/empty command name/);
    expect(() => parseCommand('echo "abc')).toThrow(/unterminated/);
  });
});

// One parser for operators' commands and SERVICE_CHECK_SCRIPT labels (both read backslashes alike).
describe('commandArgv', () => {
  it.each<[string, string[]]>([
    ['pg_isready -U postgres', ['pg_isready', '-U', 'postgres']],
    ['  curl   -f  http://localhost/ ', ['curl', '-f', 'http://localhost/']],
    ["curl -f 'http://localhost/a b'", ['curl', '-f', 'http://localhost/a b']],
    ['check --msg="a b" x', ['check', '--msg=a b', 'x']],
    ["check ''", ['check', '']],
    ['check a\\ b', ['check', 'a b']],
    ['curl -f localhost || exit 1', ['/bin/sh', '-c', 'curl -f localhost || exit 1']],
    ['test -f /tmp/ok; echo done', ['/bin/sh', '-c', 'test -f /tmp/ok; echo done']],
    ['echo $HOME', ['/bin/sh', '-c', 'echo $HOME']],
    ['ls /tmp/*.pid', ['/bin/sh', '-c', 'ls /tmp/*.pid']],
    ['FOO=1 check', ['/bin/sh', '-c', 'FOO=1 check']],
    ['! test -f /tmp/down', ['/bin/sh', '-c', '! test -f /tmp/down']],
  ])('%j', (command, argv) => {
    expect(commandArgv(command)).toEqual(argv);
  });

  it.each(["echo 'unbalanced", '   ', "''"])('refuses %j', (command) => {
    expect(() => commandArgv(command)).toThrow(/empty command|unterminated/);
  });
});
