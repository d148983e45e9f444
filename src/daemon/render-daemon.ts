// The render loop: source changes → affected resources → quiescence → render all → apply all.
// Thin on purpose: each step lives in its own module (store/, render/, apply/).
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import type { RenderConfig } from '../config/types.js';
import type { ResourceConfig } from '../apply/types.js';
import { applyBatch, type ApplyOutcome, type ReloadResult, type Rendered } from '../apply/apply.js';
import { isDone } from '../apply/status.js';
import { Quiescence, waitOf } from '../apply/quiescence.js';
import { isAckKey } from '../drain/acks.js';
import type { AckPublisher } from '../drain/publisher.js';
import { TemplateEngine, type CompiledTemplate, type RenderResult } from '../render/engine.js';
import { createSource } from '../store/index.js';
import type { Source, SourceState } from '../store/types.js';
import { nextDelay, sleep } from '../util/backoff.js';
import { errorMessage, GuardError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { prefixesOf, watchedPrefixes, resourcesAffectedBy } from './prefixes.js';
import { FileSetRenderer, type SetOutput, type SetState, writtenMembers } from './file-set-render.js';

/** What one render pass did, for /metrics. */
export interface BatchReport {
  /** Each resource of the pass: its render failure or apply outcome. */
  outcomes: ApplyOutcome[];
  /** Each distinct reload action the pass ran: ok, or failed (its resources were rolled back and reloaded again). */
  reloads: ReloadResult[];
  /** Watch mode: seconds from the first key change seen for a resource to the end of the pass that applied it. */
  latencies: { resource: string; seconds: number }[];
}

/** Hooks for /healthz and /metrics; called synchronously, and a throw is logged and ignored. */
export interface RenderObserver {
  /** A render pass finished. */
  batch?(report: BatchReport): void;
  /** The source's state moved (watch/interval mode); `error` says why it left `synced`. */
  sourceState?(state: SourceState, error?: Error): void;
}

/** Everything the daemon needs; `source` lets tests hand in a prepared source. */
export interface RenderDaemonOptions {
  config: RenderConfig;
  log: Logger;
  source?: Source;
  /** Folder the fileExists helper may look in. */
  sandboxDir?: string;
  /** Folder keeping compiled templates between runs (see render/compile-cache.ts); none when undefined. */
  templateCache?: string;
  /** Where --noop diffs go. */
  writeDiff?: (patch: string) => void;
  observer?: RenderObserver;
  /** Told, after each apply, the store revision each resource has applied (etcd; drain acknowledgements). */
  acks?: AckPublisher;
}

/** Per-resource state: its compiled template, quiescence timer and last reported problem. */
interface ResourceState {
  resource: ResourceConfig;
  template: CompiledTemplate | undefined;
  quiet: Quiescence;
  lastProblem: string | undefined;
  /** performance.now() of the first key change not yet applied (watch mode), for the change → apply latency. */
  changedAt: number | undefined;
  /** A reload owed since it failed with no previous file (see applyBatch): the retry timer and its backoff delay. */
  owed?: { timer: NodeJS.Timeout; delayMs: number };
  /** A file set: what its rendering keeps between passes. */
  members?: SetState;
}

/** What rendering one resource gave: a file's text, or a file set's member files. */
type RenderOutput = { result: RenderResult } | SetOutput;

/** First and longest delay between retries of an owed reload (the service may take a while to be started). */
const OWED_RELOAD_RETRY_MS = { first: 1000, max: 30_000 };

/** Runs `sidekick render`: one source, many resources, renders serialized, commands after files. */
export class RenderDaemon {
  readonly source: Source;
  private readonly log: Logger;
  private readonly engine: TemplateEngine;
  private readonly resources: ResourceState[];
  private readonly queued = new Set<ResourceState>();
  private running: Promise<void> | undefined;
  private rerun = false;
  /** Set by renderAll(): key changes seen before it are in that pass already. */
  private firstPassQueued = false;
  private templateWatcher: FSWatcher | undefined;
  private intervalTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Outcome of the most recent apply per resource (for /healthz and onetime's exit code). */
  readonly outcomes = new Map<string, ApplyOutcome>();
  private readonly sets: FileSetRenderer;

  constructor(private readonly opts: RenderDaemonOptions) {
    const { config } = opts;
    this.log = opts.log.child({ component: 'render' });
    this.engine = new TemplateEngine({ log: this.log, sandboxDir: opts.sandboxDir, cacheDir: opts.templateCache });
    this.source = opts.source ?? createSource(config.backend, watchedPrefixes(config.resources), opts.log);
    this.sets = new FileSetRenderer(this.engine, this.log, (resource, lookups) => this.shortLookup(resource, lookups));
    this.resources = config.resources.map((resource) => {
      const entry: ResourceState = {
        resource,
        template: undefined,
        lastProblem: undefined,
        changedAt: undefined,
        quiet: new Quiescence(waitOf(resource), () => this.enqueue([entry])),
        ...(resource.fileSet && { members: { lastProblem: undefined, warned: new Set<string>() } }),
      };
      return entry;
    });
  }

  /** Loads templates and makes the first full read (following key changes from then on in watch mode); rejects when the store cannot be read. */
  async start(): Promise<void> {
    for (const problem of this.opts.config.problems) this.log.error({ problem }, 'resource skipped');
    // Listen before the source starts: a change landing between the first read and follow() (while the first
    // render runs) would otherwise update the mirror without anything rendering it again.
    if (this.opts.config.watch) {
      this.source.on('change', (changed) => {
        if (!this.firstPassQueued) return; // the first pass reads the mirror as it is then
        // Acknowledgements (ours among them) never trigger a render: a renderer reading "/" would loop on its own.
        const keys = changed.filter((k) => !isAckKey(k));
        const now = performance.now();
        for (const entry of resourcesAffectedBy(this.resources, keys, (s) => s.resource)) {
          entry.changedAt ??= now;
          entry.quiet.poke();
        }
      });
    }
    await Promise.all(this.resources.map((entry) => this.loadTemplate(entry)));
    await this.announceAcks();
    await this.source.start();
  }

  /**
   * Before the first read: acknowledgements at revision 0 ("nothing applied yet"), so a drain that deletes a record
   * after our snapshot waits for this renderer, which may still serve it, instead of not knowing it exists. Bounded:
   * an unreachable etcd fails the read that follows anyway.
   */
  private async announceAcks(): Promise<void> {
    const { acks } = this.opts;
    if (!acks || this.opts.config.noop) return;
    for (const { resource } of this.resources) acks.publish(resource.name, 0, prefixesOf(resource));
    const flushed = new AbortController();
    await Promise.race([acks.flushed(), sleep(2000, flushed.signal)]).finally(() => flushed.abort());
  }

  /** Renders and applies every resource once (onetime mode, and the first pass of watch mode). */
  async renderAll(): Promise<ApplyOutcome[]> {
    this.firstPassQueued = true;
    this.enqueue(this.resources);
    await this.idle();
    return this.resources.map((s) => this.outcomes.get(s.resource.name) ?? failed(s.resource.name, s.lastProblem ?? 'not rendered'));
  }

  /** Follows source state, re-renders on a timer (interval mode), and hot-reloads templates. */
  follow(): void {
    const { config } = this.opts;
    this.source.on('state', (state, error) => this.onState(state, error));
    // Lost since the first render? Say so now; the move back to synced re-renders everything.
    if (this.source.state !== 'synced') this.onState(this.source.state);
    // Watch mode: key changes are followed since start().
    if (!config.watch) this.intervalTimer = setInterval(() => this.enqueue(this.resources), config.intervalMs);
    this.watchTemplates();
  }

  /** Resolves when no render is queued or running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops timers, watchers and the source; a render in progress finishes first. */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.resources) {
      entry.quiet.cancel();
      clearTimeout(entry.owed?.timer);
    }
    if (this.intervalTimer) clearInterval(this.intervalTimer);
    await this.templateWatcher?.close();
    await this.idle();
    await this.source.close();
  }

  private onState(state: SourceState, error?: Error): void {
    this.notify((o) => o.sourceState?.(state, error));
    if (state === 'synced') {
      this.log.info({ source: this.source.id }, 'store in sync; rendering');
      this.enqueue(this.resources);
    } else {
      this.log.warn(
        { source: this.source.id, state, err: error ? errorMessage(error) : undefined },
        'store unreachable; keeping the last good files and not reloading',
      );
    }
  }

  private enqueue(entries: Iterable<ResourceState>): void {
    if (this.closed) return;
    for (const s of entries) this.queued.add(s);
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Renders queued resources in batches until the queue is empty; never throws. */
  private async drain(): Promise<void> {
    do {
      this.rerun = false;
      await Promise.resolve(); // let enqueue calls made in the same tick join this batch
      if (this.queued.size === 0) break;
      if (this.source.state !== 'synced') return; // re-queued in full by onState when it syncs again
      const batch = [...this.queued];
      this.queued.clear();
      try {
        await this.renderAndApply(batch);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'render pass failed');
      }
    } while (this.rerun || this.queued.size > 0);
  }

  private async renderAndApply(batch: ResourceState[]): Promise<void> {
    // The key changes this pass covers; one arriving while it runs starts a new measurement.
    const seen = new Map<ResourceState, number>();
    for (const entry of batch) {
      if (entry.changedAt !== undefined) seen.set(entry, entry.changedAt);
      entry.changedAt = undefined;
    }
    const results = new Map<string, ApplyOutcome>();
    const reloads: ReloadResult[] = [];
    const rendered: Rendered[] = [];
    // The mirror may move on while this pass runs; what it renders holds every change up to here.
    const revision = this.source.revision;
    try {
      const setOutputs = new Map<ResourceState, SetOutput>();
      for (const entry of batch) {
        const out = await this.renderResource(entry);
        const reloadOwed = entry.owed !== undefined;
        if (out === undefined) results.set(entry.resource.name, this.outcomes.get(entry.resource.name) as ApplyOutcome);
        else if ('result' in out) rendered.push(renderedOf(entry.resource, out.result, reloadOwed));
        else {
          rendered.push({ resource: entry.resource, text: '', files: out.files, held: out.held, members: out.members, reloadOwed });
          setOutputs.set(entry, out);
        }
      }
      if (rendered.length === 0) return;
      const { config } = this.opts;
      const outcomes = await applyBatch(rendered, {
        noop: config.noop,
        syncOnly: config.syncOnly,
        keepStageFile: config.keepStageFile,
        reportUnchanged: config.onetime,
        log: this.log,
        writeDiff: this.opts.writeDiff,
        onReload: (r) => reloads.push(r),
      });
      for (const [i, o] of outcomes.entries()) {
        this.outcomes.set(o.resource, o);
        results.set(o.resource, o);
        const entry = batch.find((s) => s.resource === rendered[i]?.resource);
        if (entry) this.followOwedReload(entry, o);
        const set = entry && setOutputs.get(entry);
        if (!entry?.members || !set) continue;
        const through = o.status === 'applied' || o.status === 'unchanged';
        entry.members.written = through ? writtenMembers(set) : undefined;
        const { problems } = set;
        // The other members were applied; the resource is not all it should be until these render again.
        if (problems.length > 0 && through) {
          const partial = failed(o.resource, `${problems.join('; ')} (the other members applied)`);
          this.outcomes.set(o.resource, partial);
          results.set(o.resource, partial);
        }
      }
      if (revision !== undefined && !config.noop) this.acknowledge(rendered, results, revision);
    } finally {
      this.reportBatch(batch, results, reloads, seen);
    }
  }

  /** Publishes the revision each resource now serves: applied (reload included) or found unchanged. */
  private acknowledge(rendered: Rendered[], results: Map<string, ApplyOutcome>, revision: number): void {
    const { acks } = this.opts;
    if (!acks) return;
    for (const { resource } of rendered) {
      const status = results.get(resource.name)?.status;
      if (status === 'applied' || status === 'unchanged') acks.publish(resource.name, revision, prefixesOf(resource));
    }
  }

  /**
   * Outside --onetime, an owed reload is retried with backoff (through a render, which carries any newer data)
   * until a reload of the resource runs to its end: applied, or rolled back to a file that was loaded.
   */
  private followOwedReload(entry: ResourceState, outcome: ApplyOutcome): void {
    clearTimeout(entry.owed?.timer);
    if (outcome.status === 'applied' || outcome.status === 'rolled-back') {
      if (entry.owed) this.log.info({ resource: entry.resource.name }, 'owed reload done');
      entry.owed = undefined;
      return;
    }
    if ((!outcome.reloadOwed && !entry.owed) || this.opts.config.onetime) return;
    const delayMs = entry.owed ? nextDelay(entry.owed.delayMs, OWED_RELOAD_RETRY_MS.max) : OWED_RELOAD_RETRY_MS.first;
    entry.owed = { delayMs, timer: setTimeout(() => this.enqueue([entry]), delayMs) };
    this.log.warn({ resource: entry.resource.name, retryInMs: delayMs }, 'reload owed; retrying it');
  }

  /** Measures change → apply latency (a change not applied stays pending) and tells the observer about the pass. */
  private reportBatch(batch: ResourceState[], results: Map<string, ApplyOutcome>, reloads: ReloadResult[], seen: Map<ResourceState, number>): void {
    const now = performance.now();
    const latencies: BatchReport['latencies'] = [];
    for (const [entry, since] of seen) {
      const status = results.get(entry.resource.name)?.status;
      if (status && isDone(status)) latencies.push({ resource: entry.resource.name, seconds: (now - since) / 1000 });
      else entry.changedAt = Math.min(since, entry.changedAt ?? since);
    }
    const outcomes = batch.flatMap((entry) => results.get(entry.resource.name) ?? []);
    this.notify((o) => o.batch?.({ outcomes, reloads, latencies }));
  }

  private notify(call: (observer: RenderObserver) => void): void {
    if (!this.opts.observer) return;
    try {
      call(this.opts.observer);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'render observer failed');
    }
  }

  /** Renders one resource; a failure is reported (once per distinct message) and yields undefined. */
  private async renderResource(entry: ResourceState): Promise<RenderOutput | undefined> {
    const { resource } = entry;
    try {
      if (!entry.template) throw new Error(entry.lastProblem ?? 'template not loaded');
      if (resource.fileSet && entry.members) {
        const out = await this.sets.render(this.source.view, resource, entry.members, entry.template, resource.fileSet.member);
        this.report(entry, undefined);
        return out;
      }
      const result = await entry.template.render({ view: this.source.view, prefix: resource.prefix, log: this.log, lookups: resource.minEndpoints > 0 });
      const short = this.shortLookup(resource, result.lookups);
      if (short) throw new GuardError(`min_endpoints: ${short}; keeping the last good file`, { where: resource.name });
      this.report(entry, undefined);
      return { result };
    } catch (err) {
      const message = errorMessage(err);
      this.report(entry, message.startsWith(resource.name) ? message : `${resource.name}: ${message}`);
      this.outcomes.set(resource.name, failed(resource.name, message));
      return undefined;
    }
  }

  /** The first list lookup of a render that falls short of min_endpoints, in words; undefined when none does. */
  private shortLookup(resource: ResourceConfig, lookups: RenderResult['lookups']): string | undefined {
    if (resource.minEndpoints <= 0) return undefined;
    const short = lookups.find((l) => l.count < resource.minEndpoints);
    return short && `${short.helper} "${short.arg}" has ${short.count} entries, fewer than ${resource.minEndpoints}`;
  }

  private report(entry: ResourceState, problem: string | undefined): void {
    if (problem === entry.lastProblem) return;
    if (problem) this.log.error({ resource: entry.resource.name, err: problem }, 'render failed; destination left as it was');
    else if (entry.lastProblem) this.log.info({ resource: entry.resource.name }, 'render recovered');
    entry.lastProblem = problem;
  }

  private async loadTemplate(entry: ResourceState): Promise<boolean> {
    try {
      entry.template = await this.engine.loadTemplateFile(entry.resource.src);
      this.report(entry, undefined);
      return true;
    } catch (err) {
      this.report(entry, `${entry.resource.name}: ${errorMessage(err)}`);
      return false;
    }
  }

  private watchTemplates(): void {
    const paths = [...new Set(this.resources.map((s) => s.resource.src))];
    if (paths.length === 0) return;
    this.templateWatcher = chokidarWatch(paths, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 } });
    const onChange = (path: string): void => {
      void this.reloadTemplates(path);
    };
    this.templateWatcher.on('change', onChange).on('add', onChange);
  }

  private async reloadTemplates(path: string): Promise<void> {
    const entries = this.resources.filter((s) => s.resource.src === path);
    const ok = await Promise.all(entries.map((s) => this.loadTemplate(s)));
    this.log.info({ template: path, ok: ok.every(Boolean) }, 'template changed');
    this.enqueue(entries.filter((_, i) => ok[i]));
  }
}

/** What apply gets: the text is joined only if apply asks for it (a diff, haproxy's runtime API); the file takes the chunks. */
function renderedOf(resource: ResourceConfig, result: RenderResult, reloadOwed: boolean): Rendered {
  const { chunks } = result;
  return {
    resource,
    reloadOwed,
    ...(chunks && { chunks }),
    get text() {
      return result.text;
    },
  };
}

function failed(resource: string, message: string): ApplyOutcome {
  return { resource, status: 'failed', error: new Error(message) };
}
