// Rendering a file set: the member list, then each member that a change can concern, its name as the root context.
import type { ResourceConfig } from '../apply/types.js';
import { memberNameProblem } from '../apply/file-set.js';
import type { CompiledTemplate, RenderResult, TemplateEngine } from '../render/engine.js';
import type { KeyView } from '../store/types.js';
import { errorMessage, GuardError } from '../util/errors.js';
import { keyPath, normalizePrefix } from '../util/key-path.js';
import type { Logger } from '../util/log.js';

/**
 * A file set's members, through the engine so the logic is the helpers' own: the names `services` lists, or what
 * `ls` lists below the resource's key (its context). "/" separates them: no service or child name holds one.
 */
const MEMBER_TEMPLATES = {
  service: '{{#each (services)}}{{this}}/{{/each}}',
  key: '{{#each (ls this)}}{{this}}/{{/each}}',
} as const;

/** What the daemon keeps per file set between passes. */
export interface SetState {
  /** The member problems last reported. */
  lastProblem: string | undefined;
  /** The unsafe names already warned about. */
  warned: Set<string>;
  /** The members whose files hold what their template rendered last (the set's last apply went through); undefined: render them all. */
  written?: ReadonlySet<string>;
  /** The member list last read: its text, and its names in order and as a set (the same objects while the text is the same). */
  listed?: { text: string; names: string[]; set: Set<string> };
}

/** A file set's render: the members rendered, with their text; members not rendered keep their file, with why. */
export interface SetOutput {
  files: Map<string, string>;
  held: Set<string>;
  /** Every member (see SetRender.members): the same object while membership is the same. */
  members: ReadonlySet<string>;
  problems: string[];
}

/** Renders the file sets of one daemon. */
export class FileSetRenderer {
  private readonly memberTemplates: Record<keyof typeof MEMBER_TEMPLATES, CompiledTemplate>;

  constructor(
    engine: TemplateEngine,
    private readonly log: Logger,
    /** Why a render's lookups fall short of the resource's min_endpoints, or undefined. */
    private readonly shortLookup: (resource: ResourceConfig, lookups: RenderResult['lookups']) => string | undefined,
  ) {
    this.memberTemplates = {
      service: engine.compileTemplate('(file set members: services)', MEMBER_TEMPLATES.service),
      key: engine.compileTemplate('(file set members: ls)', MEMBER_TEMPLATES.key),
    };
  }

  /**
   * Renders a file set member by member, the member name as the template's root context. After an apply that went
   * through, only the members a change can concern are rendered (incremental rendering, engine.ts); the others'
   * files already hold their output. A member whose render fails or falls short of min_endpoints keeps its file;
   * the others proceed. No member at all with min_endpoints set is refused as a whole: the last good files stay.
   */
  async render(view: KeyView, resource: ResourceConfig, state: SetState, template: CompiledTemplate, kind: 'service' | 'key'): Promise<SetOutput> {
    const previous = state.listed;
    const { names, set } = await this.membersOf(view, resource, state, kind);
    if (names.length === 0 && resource.minEndpoints > 0) {
      const what = kind === 'service' ? 'no service has an instance' : `nothing is listed under ${resource.keys[0] ?? '?'}`;
      throw new GuardError(`min_endpoints: the file set has no members (${what}); keeping the last good files, none removed`, { where: resource.name });
    }
    const changed = template.changedContexts(view);
    const { written } = state;
    if (previous && previous.set !== set && previous.names.some((name) => !set.has(name))) template.retain(set);
    const out: SetOutput = { files: new Map(), held: new Set(), members: set, problems: [] };
    for (const name of toRender(names, set, changed, written)) {
      try {
        const result = await template.render({ view, prefix: resource.prefix, log: this.log, context: name });
        const short = this.shortLookup(resource, result.lookups);
        if (short) throw new GuardError(`min_endpoints: ${short}; keeping its last file`);
        out.files.set(name, result.text);
      } catch (err) {
        out.held.add(name);
        out.problems.push(`member ${name}: ${errorMessage(err)}`);
      }
    }
    this.reportMembers(resource, state, out.problems);
    return out;
  }

  /** The member names of a set, unsafe ones dropped with one warning each (per name, not per render). */
  private async membersOf(view: KeyView, resource: ResourceConfig, state: SetState, kind: 'service' | 'key'): Promise<{ names: string[]; set: Set<string> }> {
    const context = kind === 'key' ? resource.keys[0] : undefined;
    const { text } = await this.memberTemplates[kind].render({ view, prefix: resource.prefix, log: this.log, ...(context !== undefined && { context }) });
    if (state.listed?.text === text) return state.listed;
    const names: string[] = [];
    for (const name of text.split('/')) {
      if (name === '') continue;
      const problem = memberNameProblem(name);
      if (!problem) names.push(name);
      else if (!state.warned.has(name)) {
        state.warned.add(name);
        // Not `key`: the logger redacts fields named key (TLS keys).
        this.log.warn({ resource: resource.name, storeKey: `${normalizePrefix(keyPath(resource.prefix, context ?? ''))}/${name}`, reason: problem }, 'file set member skipped: its name cannot name a file');
      }
    }
    state.listed = { text, names, set: new Set(names) };
    return state.listed;
  }

  /** Says which members kept their file, once per distinct set of problems. */
  private reportMembers(resource: ResourceConfig, state: SetState, problems: string[]): void {
    const problem = problems.length > 0 ? problems.join('; ') : undefined;
    if (problem === state.lastProblem) return;
    if (problem) this.log.error({ resource: resource.name, err: problem }, 'file set members not rendered; their files left as they were');
    else this.log.info({ resource: resource.name }, 'file set members recovered');
    state.lastProblem = problem;
  }
}

/**
 * The members to render: all of them without a last apply to build on or without knowing what changed; else those a
 * change concerns and those not written. While every member was written (the same set object), that is the changed
 * ones alone, without a walk over the others.
 */
function toRender(names: string[], set: ReadonlySet<string>, changed: ReadonlySet<string> | undefined, written: ReadonlySet<string> | undefined): Iterable<string> {
  if (!changed || !written) return names;
  if (written === set) return [...changed].filter((name) => set.has(name));
  return names.filter((name) => changed.has(name) || !written.has(name));
}

/** A file set's members whose files hold their last output after an apply that went through: all but the held ones. */
export function writtenMembers(out: Pick<SetOutput, 'members' | 'held'>): ReadonlySet<string> {
  if (out.held.size === 0) return out.members;
  return new Set([...out.members].filter((name) => !out.held.has(name)));
}
