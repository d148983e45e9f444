// The helper set templates see: confd's functions under confd's names, Go template built-ins for
// migration, and the service and selection helpers. Installed into an isolated Handlebars environment.
import type HandlebarsNS from 'handlebars';
import { splitArgs, helperError, DATA_KEY, type Helper, type HelperOptions, type RenderState } from './context.js';
import { UNTRACKED_HELPERS } from './memo.js';
import { fastEach } from './each.js';
import { goHelpers } from './helpers-go.js';
import { kvHelpers } from './helpers-kv.js';
import { selectHelpers } from './helpers-select.js';
import { serviceHelpers } from './helpers-services.js';
import { sysHelpers } from './helpers-sys.js';
import { textHelpers } from './helpers-text.js';

/** Options for {@link registerHelpers}. */
export interface HelperSetOptions {
  /** The only folder fileExists may look into; without it fileExists is always false. */
  sandboxDir?: string;
}

/** Every helper by name; exported so docs and tests can check the set is complete. */
export function helperSet(opts: HelperSetOptions = {}): Record<string, Helper> {
  return { ...kvHelpers, ...textHelpers, ...sysHelpers(opts.sandboxDir), ...goHelpers, ...serviceHelpers, ...selectHelpers };
}

/**
 * Installs the helpers into `hb` (use `Handlebars.create()`: the global instance is shared). Helpers
 * read the store, prefix and lookup recorder from `options.data.sidekick`, never from a closure.
 */
export function registerHelpers(hb: typeof HandlebarsNS, opts: HelperSetOptions = {}): void {
  for (const [name, fn] of Object.entries(helperSet(opts))) hb.registerHelper(name, fn);
  hb.registerHelper('each', fastEach(hb));
  for (const name of UNTRACKED_HELPERS) hb.registerHelper(name, untracked(hb.helpers[name] as Helper));
  // Handlebars' own message names neither the file nor the line; `{{nohelper 1}}` is usually a typo.
  hb.registerHelper('helperMissing', (...args: unknown[]) => {
    const { params, options } = splitArgs(args);
    if (params.length === 0) return undefined;
    throw helperError(options, 'no such helper (a typo, or a Go function sidekick does not provide?)');
  });
}

/** A helper whose answer does not come from the key space: the blocks calling it are rendered every time. */
function untracked(helper: Helper): Helper {
  return function (this: unknown, ...args: unknown[]) {
    const options = args[args.length - 1] as HelperOptions | undefined;
    (options?.data?.[DATA_KEY] as RenderState | undefined)?.memo?.untracked();
    return helper.apply(this, args) as unknown;
  };
}
