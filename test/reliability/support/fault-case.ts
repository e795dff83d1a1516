/**
 * One case of the fault matrix: a fresh local Secrets Manager endpoint, fault proxies in front of
 * it and of the adapter's target on one I/O ledger, a secret set up by the adapter's scenario, a
 * rotation whose chosen step fails at the chosen I/O point, and the service's retries. The case
 * checks the invariant after the failure (some stored version authenticates; for alternating users,
 * AWSCURRENT does) and the convergence after the retries.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { Env } from '../../../src/core/config.ts';
import { createRotationHandler } from '../../../src/core/engine.ts';
import type { RotationHandler } from '../../../src/core/event.ts';
import type { RotationStep } from '../../../src/core/target.ts';
import {
  AWSCURRENT,
  AWSPENDING,
  AWSPREVIOUS,
  type LocalSecretsManager,
  type RotationResult,
  retryUntilConverged,
  rotateSecret,
  startLocalSecretsManager,
} from '../../../src/testing/index.ts';
import {
  describeHttp,
  type FaultAction,
  type FaultPosition,
  FaultProxy,
  IoLedger,
  type IoPoint,
  type PointDescriber,
} from '../../support/fault-proxy.ts';
import { trackSecrets } from '../../support/leak-scan.ts';
import type { ContainerOutcome, ContainerPool } from './containers.ts';
import { makeTarget, type PreparedCase, type Scenario } from './scenarios.ts';

/** The three kinds of failure of the issue: an error, a timeout, a process crash. */
export type FaultKind = 'error' | 'timeout' | 'crash';

export const FAULT_KINDS: readonly FaultKind[] = ['error', 'timeout', 'crash'];

const ACTION: Record<FaultKind, FaultAction> = { error: 'reset', timeout: 'stall', crash: 'crash' };

/** Time the handler's Secrets Manager client waits for an answer before giving up. */
export const SM_REQUEST_TIMEOUT_MS = 2_000;

/** One I/O point of a step, as a clean rotation meets it. */
export interface ProbedPoint {
  readonly index: number;
  readonly description: string;
  readonly answered: boolean;
}

/** One case: fail this point of this step, in this position, this way. */
export interface FaultCase {
  readonly step: RotationStep;
  readonly point: ProbedPoint;
  readonly position: FaultPosition;
  readonly kind: FaultKind;
}

/** What happened in one case. */
export interface CaseOutcome {
  readonly fault: FaultCase;
  /** The point the fault hit (undefined: the step never reached it). */
  readonly hit: string | undefined;
  /** The faulted run's result: whether it still completed, or where it failed. */
  readonly firstOk: boolean;
  readonly firstError: string | undefined;
  /** Runs the driver needed after the faulted one (0 when the faulted run completed). */
  readonly retries: number;
  readonly converged: boolean;
  /** Times the case ran again because the step failed before its fault point. */
  readonly reruns: number;
  /** Broken invariants; empty for a good case. */
  readonly violations: string[];
  readonly durationMs: number;
}

/** Short name of a case for tables and failure messages. */
export function caseName(fault: FaultCase): string {
  return `${fault.step} #${fault.point.index} ${fault.point.description} ${fault.kind}@${fault.position}`;
}

interface VersionView {
  readonly id: string;
  readonly stages: string[];
  readonly value: string | undefined;
}

let caseCounter = 0;

/**
 * The stage of one case: endpoint, proxies, ledger, the scenario's target and secret.
 *
 * @example
 * ```ts
 * const rig = await CaseRig.open(postgresScenario(db, true));
 * const result = await rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler: rig.handler() });
 * await rig.close();
 * ```
 */
export class CaseRig {
  readonly scenario: Scenario;
  readonly id: string;
  readonly sm: LocalSecretsManager;
  readonly ledger: IoLedger;
  readonly smProxy: FaultProxy;
  /** The driver's client: straight to the endpoint, never through a proxy. */
  readonly direct: SecretsManagerClient;
  readonly #proxies: FaultProxy[];
  #prepared: PreparedCase | undefined;

  private constructor(
    scenario: Scenario,
    id: string,
    sm: LocalSecretsManager,
    ledger: IoLedger,
    smProxy: FaultProxy,
  ) {
    this.scenario = scenario;
    this.id = id;
    this.sm = sm;
    this.ledger = ledger;
    this.smProxy = smProxy;
    this.#proxies = [smProxy];
    this.direct = sm.client({ maxAttempts: 1 });
  }

  static async open(scenario: Scenario): Promise<CaseRig> {
    caseCounter += 1;
    const id = `${process.pid.toString(36)}${caseCounter.toString(36)}`;
    const sm = await startLocalSecretsManager();
    const ledger = new IoLedger();
    const endpoint = new URL(sm.endpoint);
    const smProxy = await FaultProxy.start({
      label: 'sm',
      target: { host: endpoint.hostname, port: Number(endpoint.port) },
      ledger,
      describe: describeHttp,
    });
    const rig = new CaseRig(scenario, id, sm, ledger, smProxy);
    try {
      rig.#prepared = await scenario.prepare(id, {
        proxy: (label, target, describe) => rig.#proxy(label, target, describe),
        createSecret: async (name, value) => {
          trackSecrets(value);
          const answer = await rig.direct.send(new CreateSecretCommand({ Name: name, SecretString: value }));
          return answer.ARN!;
        },
        track: (...values) => trackSecrets(...values),
      });
      for (let rotation = 0; rotation < (scenario.warmup ?? 0); rotation += 1) {
        const result = await rotateSecret({
          client: rig.direct,
          secretId: rig.secretArn,
          handler: rig.handler(),
        });
        if (!result.ok) throw new Error(`warm-up rotation ${rotation + 1} failed: ${result.error}`);
        await rig.settle();
      }
    } catch (error) {
      await rig.close();
      throw error;
    }
    return rig;
  }

  async #proxy(label: string, target: { host: string; port: number }, describe: PointDescriber) {
    const proxy = await FaultProxy.start({ label, target, ledger: this.ledger, describe });
    this.#proxies.push(proxy);
    return { host: proxy.host, port: proxy.port, url: proxy.url };
  }

  get prepared(): PreparedCase {
    if (!this.#prepared) throw new Error('CaseRig: not prepared');
    return this.#prepared;
  }

  get secretArn(): string {
    return this.prepared.secretArn;
  }

  /** The endpoint the handler reaches Secrets Manager at: the proxy. */
  get handlerEndpoint(): string {
    return this.smProxy.url;
  }

  /**
   * A fresh handler (a new Lambda container, in this process) talking through the proxies. `env`
   * adds to the scenario's environment; `client` replaces the Secrets Manager client.
   */
  handler(options: { env?: Env; client?: SecretsManagerClient } = {}): RotationHandler {
    const client =
      options.client ??
      this.sm.client({
        endpoint: this.smProxy.url,
        maxAttempts: 1,
        requestHandler: {
          requestTimeout: SM_REQUEST_TIMEOUT_MS,
          connectionTimeout: SM_REQUEST_TIMEOUT_MS,
          throwOnRequestTimeout: true,
        },
      });
    const target = this.scenario.target?.() ?? makeTarget(this.scenario.adapter);
    return createRotationHandler(target, {
      client,
      env: { ...this.scenario.env, ...this.#prepared?.env, ...options.env },
    });
  }

  /** Every version's labels and value, and the target's fingerprint: what a refused step must not change. */
  async state(rotating?: string): Promise<{ versions: VersionView[]; target: string }> {
    return { versions: await this.versions(), target: await this.prepared.fingerprint(rotating) };
  }

  /** Every version: labels and value (tracked with the leak scan). */
  async versions(): Promise<VersionView[]> {
    const described = await this.direct.send(new DescribeSecretCommand({ SecretId: this.secretArn }));
    const views: VersionView[] = [];
    for (const [id, stages] of Object.entries(described.VersionIdsToStages ?? {})) {
      let value: string | undefined;
      try {
        const answer = await this.direct.send(
          new GetSecretValueCommand({ SecretId: this.secretArn, VersionId: id }),
        );
        value = answer.SecretString;
      } catch {
        value = undefined; // the AWSPENDING placeholder has no value yet
      }
      trackValue(value);
      views.push({ id, stages: [...stages].sort(), value });
    }
    return views;
  }

  /** Labels coherent, and the right stored versions authenticate against the real target. */
  async checkInvariant(when: string): Promise<string[]> {
    const problems: string[] = [];
    const views = await this.versions();
    const holders = (stage: string) => views.filter((view) => view.stages.includes(stage));
    for (const stage of [AWSCURRENT, AWSPENDING, AWSPREVIOUS]) {
      const count = holders(stage).length;
      if (stage === AWSCURRENT ? count !== 1 : count > 1) {
        problems.push(`${when}: ${count} versions hold ${stage}`);
      }
    }
    const current = holders(AWSCURRENT)[0];
    if (!current?.value) {
      problems.push(`${when}: AWSCURRENT has no value`);
      return problems;
    }
    const working: string[] = [];
    for (const stage of [AWSCURRENT, AWSPENDING, AWSPREVIOUS]) {
      const value = holders(stage)[0]?.value;
      if (value !== undefined && (await this.prepared.authenticates(value))) working.push(stage);
    }
    if (this.scenario.currentAlwaysWorks && !working.includes(AWSCURRENT)) {
      problems.push(`${when}: AWSCURRENT does not authenticate (working: ${working.join(', ') || 'none'})`);
    }
    if (working.length === 0) problems.push(`${when}: no stored version authenticates`);
    return problems;
  }

  /** After the retries: rotated as a normal rotation leaves it. */
  async checkConverged(initial: VersionView, versionId: string): Promise<string[]> {
    const problems: string[] = [];
    const views = await this.versions();
    const byId = new Map(views.map((view) => [view.id, view]));
    const rotated = byId.get(versionId);
    if (!rotated?.stages.includes(AWSCURRENT)) problems.push(`version ${versionId} does not hold AWSCURRENT`);
    if (views.some((view) => view.stages.includes(AWSPENDING))) problems.push('AWSPENDING is still set');
    if (!byId.get(initial.id)?.stages.includes(AWSPREVIOUS)) {
      problems.push('the version that was current before does not hold AWSPREVIOUS');
    }
    if (!rotated?.value) return [...problems, 'the rotated version has no value'];
    if (rotated.value === initial.value) problems.push('the rotated version holds the old value');
    if (!(await this.prepared.authenticates(rotated.value)))
      problems.push('the new AWSCURRENT does not authenticate');
    if (this.scenario.currentAlwaysWorks) {
      const previous = byId.get(initial.id);
      if (previous?.value && !(await this.prepared.authenticates(previous.value))) {
        problems.push('alternating users: the AWSPREVIOUS user no longer authenticates');
      }
    }
    // Fields the adapter does not own are carried over (docs/protocol.md#the-database-secret).
    // A random-secret value may itself begin with '{', so only JSON objects count here.
    const before = parseObject(initial.value);
    const after = parseObject(rotated.value);
    if (before && after) {
      for (const field of ['team', 'owner', 'masterarn', 'engine', 'dbname']) {
        if (JSON.stringify(before[field]) !== JSON.stringify(after[field])) {
          problems.push(`field "${field}" changed`);
        }
      }
    }
    problems.push(...((await this.prepared.extraChecks?.(rotated.value)) ?? []));
    return problems;
  }

  /**
   * Waits (up to a second) until the target's connections are closed, so that a connection closed
   * just after a step returned (MySQL's COM_QUIT goes out asynchronously) counts in that step.
   */
  async settle(): Promise<void> {
    const targets = this.#proxies.filter((proxy) => proxy !== this.smProxy);
    for (let waited = 0; waited < 1_000; waited += 10) {
      if (targets.every((proxy) => proxy.openConnections === 0)) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** The one AWSCURRENT version now. */
  async current(): Promise<VersionView> {
    const current = (await this.versions()).find((view) => view.stages.includes(AWSCURRENT));
    if (!current) throw new Error('no AWSCURRENT version');
    return current;
  }

  async close(): Promise<void> {
    trackSecrets(...(this.#prepared?.secretsSeen?.() ?? []));
    await Promise.allSettled(this.#proxies.map((proxy) => proxy.close()));
    await Promise.allSettled([this.#prepared?.close(), this.sm.close()]);
  }
}

/** Registers a stored value, and its password or key fields, with the leak scan. */
export function trackValue(value: string | undefined): void {
  if (!value) return;
  trackSecrets(value);
  if (!value.startsWith('{')) return;
  try {
    const fields = JSON.parse(value) as Record<string, unknown>;
    for (const name of ['password', 'apiKey']) {
      if (typeof fields[name] === 'string') trackSecrets(fields[name]);
    }
  } catch {
    // Not JSON after all: the whole value is tracked already.
  }
}

/**
 * Runs one clean rotation and records the I/O points of each step, as the matrix's map. With
 * `handlerPerStep`, each step runs in a new handler, as a crash case's container does: a warm
 * handler that ran createSecret reads the master secret earlier in setSecret.
 *
 * @example
 * ```ts
 * const map = await probePoints(randomSecretScenario()); // { createSecret: [...], setSecret: [...], ... }
 * ```
 */
export async function probePoints(
  scenario: Scenario,
  options: { readonly handlerPerStep?: boolean } = {},
): Promise<Record<RotationStep, ProbedPoint[]>> {
  const rig = await CaseRig.open(scenario);
  try {
    const handler = rig.handler();
    const map = {} as Record<RotationStep, ProbedPoint[]>;
    const recording: RotationHandler = async (event, context) => {
      rig.ledger.begin();
      try {
        await (options.handlerPerStep ? rig.handler() : handler)(event, context);
      } finally {
        await rig.settle();
        map[event.Step as RotationStep] = rig.ledger.end().points.map(toProbed);
      }
    };
    const result = await rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler: recording });
    if (!result.ok) throw new Error(`the probe rotation of ${scenario.adapter} failed: ${result.error}`);
    return map;
  } finally {
    await rig.close();
  }
}

function toProbed(point: IoPoint): ProbedPoint {
  return { index: point.index, description: point.description, answered: point.answered };
}

/**
 * Runs one case: the rotation with the fault, the invariant after it, the service's retries with
 * the same version id (a fresh container after a crash, the same one otherwise), convergence.
 * A case whose step failed before reaching its fault point runs again, up to three times in all.
 *
 * @example
 * ```ts
 * const outcome = await runFaultCase(scenario, { step: 'setSecret', point, position: 'request', kind: 'error' }, containers);
 * expect(outcome.violations).toEqual([]);
 * ```
 */
export async function runFaultCase(
  scenario: Scenario,
  fault: FaultCase,
  containers: ContainerPool,
): Promise<CaseOutcome> {
  let outcome = await runFaultCaseOnce(scenario, fault, containers);
  // A step that failed before its fault point (a 2 s timeout of a loaded machine) never tested the
  // point: run the case again on a fresh rig, and report it only if it misses every time.
  for (let runs = 1; runs < CASE_RUNS && missedItsPoint(outcome); runs++) {
    outcome = { ...(await runFaultCaseOnce(scenario, fault, containers)), reruns: runs };
  }
  return outcome;
}

/** Times a case is run when its step keeps failing before the fault point. */
const CASE_RUNS = 3;

/** The faulted run failed (it has an error) without reaching the fault point: the case tested nothing. */
function missedItsPoint(outcome: CaseOutcome): boolean {
  return outcome.hit === undefined && outcome.firstError !== undefined;
}

async function runFaultCaseOnce(
  scenario: Scenario,
  fault: FaultCase,
  containers: ContainerPool,
): Promise<CaseOutcome> {
  const started = performance.now();
  const violations: string[] = [];
  const rig = await CaseRig.open(scenario);
  let hit: IoPoint | undefined;
  let first: RotationResult | undefined;
  let retries = 0;
  let converged = false;
  try {
    const initial = await rig.current();
    const handler = rig.handler();
    let armed = false;
    const faulty: RotationHandler = async (event, context) => {
      if (event.Step !== fault.step || armed) return handler(event, context);
      armed = true;
      await rig.settle();
      if (fault.kind === 'crash') {
        const container = await containers.take();
        rig.ledger.begin({
          index: fault.point.index,
          position: fault.position,
          action: 'crash',
          onCrash: () => container.kill(),
        });
        let outcome: ContainerOutcome;
        try {
          outcome = await container.run({
            type: 'run',
            adapter: scenario.adapter,
            env: { ...scenario.env, ...rig.prepared.env } as Record<string, string>,
            endpoint: rig.handlerEndpoint,
            region: rig.sm.region,
            requestTimeoutMs: SM_REQUEST_TIMEOUT_MS,
            event,
          });
        } finally {
          hit = rig.ledger.end().fired;
        }
        if (outcome.kind === 'killed') throw new Error(`the container was killed at ${hit?.description}`);
        if (outcome.kind === 'exited')
          throw new Error(`the container died on its own: ${JSON.stringify(outcome)}`);
        if (!outcome.ok) throw new Error(outcome.error ?? 'the step failed');
        return;
      }
      rig.ledger.begin({ index: fault.point.index, position: fault.position, action: ACTION[fault.kind] });
      try {
        await handler(event, context);
      } finally {
        await rig.settle();
        hit = rig.ledger.end().fired;
      }
    };
    first = await rotateSecret({ client: rig.direct, secretId: rig.secretArn, handler: faulty });
    if (!hit) {
      const how = first.ok ? 'it completed' : `it failed first: ${first.error}`;
      violations.push(`the fault never fired: the step did not reach that I/O point (${how})`);
    } else if (hit.description !== fault.point.description) {
      violations.push(`the fault hit ${hit.description}, not ${fault.point.description} as in the probe`);
    }
    if (first.ok) {
      converged = true;
    } else {
      violations.push(...(await rig.checkInvariant('after the fault')));
      const retry = await retryUntilConverged({
        client: rig.direct,
        secretId: rig.secretArn,
        // The service retries later: after a crash in a new container, else perhaps the same one.
        handler: fault.kind === 'crash' ? rig.handler() : handler,
        versionId: first.versionId,
        resume: true,
        attempts: 3,
      });
      retries = retry.attempts;
      converged = retry.ok;
      if (!retry.ok) violations.push(`did not converge in 3 retries: ${retry.last.error}`);
    }
    if (converged) violations.push(...(await rig.checkConverged(initial, first.versionId)));
  } catch (error) {
    violations.push(`the case itself failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await rig.close();
  }
  return {
    fault,
    hit: hit?.description,
    firstOk: first?.ok ?? false,
    firstError: first?.error,
    retries,
    converged: converged && violations.length === 0,
    reruns: 0,
    violations,
    durationMs: performance.now() - started,
  };
}

/**
 * The cases of one step: at every I/O point an error and a timeout, each before the request
 * reaches the server and after the server acted (its answer lost), and a crash before the request.
 * A crash after point k's answer looks to the world exactly like a crash before point k+1 (the
 * dead process's memory is gone; the servers saw the same requests), so a crash after the answer
 * is added only for the step's last answered point.
 *
 * @example
 * ```ts
 * const cases = casesForStep('setSecret', probed.setSecret);
 * ```
 */
export function casesForStep(step: RotationStep, points: readonly ProbedPoint[]): FaultCase[] {
  const cases: FaultCase[] = [];
  for (const point of points) {
    for (const kind of FAULT_KINDS) {
      cases.push({ step, point, position: 'request', kind });
      if (point.answered && kind !== 'crash') cases.push({ step, point, position: 'answer', kind });
    }
  }
  const last = points.filter((point) => point.answered).at(-1);
  if (last) cases.push({ step, point: last, position: 'answer', kind: 'crash' });
  return cases;
}

/**
 * Runs tasks with at most `limit` at once, keeping their order in the answer.
 *
 * @example
 * ```ts
 * const outcomes = await inPool(cases, 4, (fault) => runFaultCase(scenario, fault, containers));
 * ```
 */
export async function inPool<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function parseObject(value: string | undefined): Record<string, unknown> | undefined {
  if (!value?.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
