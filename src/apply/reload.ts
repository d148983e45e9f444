// Reload actions: a command, or a signal to a pid file's process or to a container.
import { readFile } from 'node:fs/promises';
import Docker from 'dockerode';
import type { ResourceConfig } from '../config/types.js';
import { CommandError, errorMessage } from '../util/errors.js';
import { runCommand } from './commands.js';

/** What reloading a resource means; resources with equal keys share one reload per batch. */
export interface ReloadAction {
  /** Identity for de-duplication: three nginx resources with the same reload_cmd reload nginx once. */
  key: string;
  describe: string;
  run(where: string, timeoutMs: number): Promise<void>;
}

/** Builds the reload action of a resource, or undefined when it has none. */
export function reloadActionOf(resource: ResourceConfig): ReloadAction | undefined {
  const cmd = resource.reloadCmd;
  if (cmd) {
    return {
      key: `cmd:${cmd}`,
      describe: cmd,
      run: async (where, timeoutMs) => {
        await runCommand(cmd, { timeoutMs, where, purpose: 'reload' });
      },
    };
  }
  const sig = resource.reloadSignal;
  if (sig?.pidFile) {
    const pidFile = sig.pidFile;
    return {
      key: `pid:${pidFile}:${sig.signal}`,
      describe: `kill -${sig.signal} $(cat ${pidFile})`,
      run: async (where) => signalPidFile(pidFile, sig.signal, where),
    };
  }
  if (sig?.container) {
    const container = sig.container;
    return {
      key: `container:${container}:${sig.signal}`,
      describe: `docker kill -s ${sig.signal} ${container}`,
      run: async (where, timeoutMs) => signalContainer(container, sig.signal, where, timeoutMs),
    };
  }
  return undefined;
}

async function signalPidFile(pidFile: string, signal: NodeJS.Signals, where: string): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
  } catch (err) {
    throw new CommandError(`reload: cannot read pid file ${pidFile}: ${errorMessage(err)}`, { where, cause: err });
  }
  if (!Number.isInteger(pid) || pid <= 1) throw new CommandError(`reload: pid file ${pidFile} holds no valid pid`, { where });
  try {
    process.kill(pid, signal);
  } catch (err) {
    throw new CommandError(`reload: kill -${signal} ${pid} (from ${pidFile}) failed: ${errorMessage(err)}`, { where, cause: err });
  }
}

async function signalContainer(container: string, signal: NodeJS.Signals, where: string, timeoutMs: number): Promise<void> {
  const docker = new Docker({ timeout: timeoutMs });
  try {
    await docker.getContainer(container).kill({ signal });
  } catch (err) {
    throw new CommandError(`reload: signalling container ${container} with ${signal} failed: ${errorMessage(err)}`, {
      where,
      cause: err,
    });
  }
}
