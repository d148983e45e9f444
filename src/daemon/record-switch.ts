// The one place where health meets the registry: a record is written when its service turns healthy and removed
// when it stops being so. Shared by `register` (one per container service) and `announce` (one).
import type { ServiceRecord } from '../registry/record.js';
import type { RegistryState } from '../registry/registry.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/** The registry as the daemons use it: desired records, and a repair pass on resync. */
export interface RecordWriter {
  set(record: ServiceRecord): void;
  remove(id: string): void;
  reconcile(): Promise<void>;
  /** Resolves once etcd holds the desired state as it is at the call; rejects when closed first. */
  flushed(): Promise<void>;
  /** `connecting` (no lease) and `failing` (writes fail) mean a write waits for etcd. */
  readonly state: RegistryState;
}

/** Follows one service's health: healthy → set, unhealthy or withdrawn → remove; one log line per change. */
export class RecordSwitch {
  private on = false;
  /** Bumped on every switch, so a write confirmed late is not logged for a record switched off since. */
  private generation = 0;
  /** The check's last verdict, kept while held so the record comes back as soon as the hold ends. */
  private passing = false;
  /** Held out of rotation (maintenance): the record is not written whatever the check says. */
  private held = false;
  private readonly fields: Record<string, unknown>;

  constructor(
    readonly record: ServiceRecord,
    private readonly registry: RecordWriter,
    private readonly log: Logger,
    context: Record<string, unknown> = {},
  ) {
    this.fields = { ...context, service: record.id, address: `${record.host}:${record.port}` };
  }

  /** True while the record is (meant to be) written. */
  get healthy(): boolean {
    return this.on;
  }

  /** Health changed: write or remove the record; repeats are ignored. */
  set(healthy: boolean): void {
    this.passing = healthy;
    if (this.held || this.on === healthy) return;
    this.on = healthy;
    if (healthy) {
      try {
        this.registry.set(this.record);
      } catch (err) {
        // A record the registry refuses (its keys held by another instance): say so, keep the rest running.
        this.on = false;
        this.log.error({ ...this.fields, err: errorMessage(err) }, 'cannot register');
        return;
      }
      this.confirm();
    } else {
      this.generation++;
      this.registry.remove(this.record.id);
      this.log.warn(this.fields, 'health check failing; deregistered');
    }
  }

  /**
   * Logs 'registered' once the record is in etcd; while etcd is unreachable (no lease, or failing writes) says the
   * registration is pending first. Info, not a warning: the registry warns once per outage.
   */
  private confirm(): void {
    const generation = ++this.generation;
    const { state } = this.registry;
    if (state === 'connecting' || state === 'failing') this.log.info({ ...this.fields, registry: state }, 'registration pending: etcd unreachable');
    this.registry.flushed().then(
      () => {
        if (this.on && generation === this.generation) this.log.info(this.fields, 'registered');
      },
      () => undefined, // closed before the write landed: nothing was registered
    );
  }

  /** The service went away (container gone, shutdown): remove the record if it was written. */
  withdraw(cause: string): void {
    this.passing = false;
    if (!this.on) return;
    this.on = false;
    this.generation++;
    this.registry.remove(this.record.id);
    this.log.info({ ...this.fields, cause }, 'deregistered');
  }

  /**
   * Hands the record over to a drain: the switch turns off without removing it, so the caller can deregister it
   * and learn the deletion's revision (Registry.deregister). True when the record was written.
   */
  release(): boolean {
    const was = this.on;
    this.on = false;
    this.generation++;
    return was;
  }

  /**
   * Maintenance: `true` holds the record out (released as by {@link release}; true when it was written), `false`
   * lets it back, written at once if the check passes.
   */
  hold(on: boolean): boolean {
    this.held = on;
    if (on) return this.release();
    if (this.passing) this.set(true);
    return false;
  }
}
