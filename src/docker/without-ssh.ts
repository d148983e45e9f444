// Keeps docker-modem from loading ssh2 and its native crypto addons. sidekick never talks to Docker over SSH
// (dockerFromAddress refuses ssh://), yet docker-modem requires its ./ssh file, and with it ssh2, as soon as it
// loads: ~4 MB of `register`'s RSS for nothing. Imported before dockerode, this puts a stand-in for that one file
// into the CommonJS cache. Should a docker-modem release move the file, the stand-in is simply never used, and
// test/unit/docker/without-ssh.test.ts fails.
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The file docker-modem loads ssh2 through, as the CommonJS cache names it. */
export function modemSshFile(): string {
  const modem = require.resolve('docker-modem', { paths: [dirname(require.resolve('dockerode'))] });
  return join(dirname(modem), 'ssh.js');
}

const sshFile = modemSshFile();
if (require.cache[sshFile] === undefined) {
  const standIn = new Module(sshFile);
  standIn.filename = sshFile;
  standIn.loaded = true;
  standIn.exports = (): never => {
    throw new Error('sidekick does not talk to Docker over SSH');
  };
  require.cache[sshFile] = standIn;
}
