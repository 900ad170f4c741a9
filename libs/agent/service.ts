import { randomUUID } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import { actorOf } from '@handoff/contracts';
import type {
  AgentConfig,
  AgentEvent,
  AgentEventBody,
  AgentHealth,
  AgentRunBody,
  AgentSessionDetail,
  AgentSessionList,
  AgentSessionState,
  Caller,
  ConfigWatcher,
  FleetConfig,
  GuardFile,
  ListAgentSessionsQuery,
} from '@handoff/contracts';
import type { Db } from '@handoff/db';
import type { IntentService } from '@handoff/intents';
import { loadFleet } from '@handoff/router';
import type { Router } from '@handoff/router';
import type { Entry } from './conversation.ts';
import { createExecGuard, loadGuardRules } from './guard/index.ts';
import type { ExecGuard } from './guard/index.ts';
import { createCommandApprovals } from './approvals.ts';
import type { CommandApprovals } from './approvals.ts';
import { createAgentAudit } from './audit.ts';
import type { AgentAudit } from './audit.ts';
import { loadAgentConfig, sandboxRootOf } from './config.ts';
import { detectIsolation } from './isolation.ts';
import type { Isolation } from './isolation.ts';
import { Sandbox, SandboxError } from './sandbox.ts';
import { runSession, StopError } from './session.ts';
import type { SessionOutcome, UsageTotals } from './session.ts';
import { createSessionStore } from './sessionStore.ts';

/**
 * The agent loop as a service for the coordinator: validates a run, starts it, streams its events
 * to a sink, stops it, resumes it, reports its health. Each session is written to Postgres as it
 * runs (sessionStore.ts); at start, sessions a dead coordinator left `running` become `interrupted`.
 */

/** A run refused before it starts; the route answers 400 with this code and field. */
export class AgentInputError extends Error {
  readonly code: 'outside_sandbox' | 'validation_failed' | 'bad_request';
  readonly field: string;
  constructor(code: AgentInputError['code'], field: string, message: string) {
    super(message);
    this.name = 'AgentInputError';
    this.code = code;
    this.field = field;
  }
}

export interface PreparedRun {
  task: string;
  workingDir: string;
  model: string;
  maxTurns: number;
  /** The token that started the run: it owns the session and the intents the session proposes. */
  caller: Caller;
  /** A stored session taken up again (resume): its id, owner and conversation. */
  resumed?: {
    sessionId: string;
    actor: string;
    ownerTokenId: string;
    currentModel: string;
    entries: Entry[];
    usage: UsageTotals;
  };
}

/** A resume refused: 404 when the caller has no such session, 409 when it is not resumable. */
export class SessionStateError extends Error {
  readonly status: 404 | 409;
  readonly code: 'not_found' | 'invalid_state';
  constructor(status: 404 | 409, message: string) {
    super(message);
    this.name = 'SessionStateError';
    this.status = status;
    this.code = status === 404 ? 'not_found' : 'invalid_state';
  }
}

export interface RunningSession {
  sessionId: string;
  /** Resolves once the run has ended and its last event was emitted. */
  done: Promise<void>;
  abort(code: 'client_gone' | 'stopped' | 'shutdown'): void;
}

export interface AgentService {
  prepare(body: AgentRunBody, caller: Caller): PreparedRun;
  /**
   * Claims a stored session to go on with it (interrupted, stopped or failed; the caller's own, or
   * any for an operator); `start` then runs it from its last complete turn. Throws SessionStateError.
   */
  prepareResume(sessionId: string, caller: Caller): Promise<PreparedRun>;
  start(run: PreparedRun, sink: (event: AgentEvent) => void): RunningSession;
  sessions(query: ListAgentSessionsQuery, caller: Caller): Promise<AgentSessionList>;
  /** Null when there is no such session or it is not the caller's to see. */
  session(sessionId: string, caller: Caller): Promise<AgentSessionDetail | null>;
  /**
   * Stops a session and waits (a bounded time) for it to end. False when no such session runs or
   * it is not the caller's: an agent token stops only the sessions its own token started, an
   * operator any (the route answers 404 for both, so a session's existence does not leak).
   */
  stop(sessionId: string, caller: Caller): Promise<boolean>;
  health(): AgentHealth;
  approvals: CommandApprovals;
  audit: AgentAudit;
  close(): Promise<void>;
}

export interface AgentServiceOptions {
  router: Router;
  intents: IntentService;
  db: Db;
  home: string;
  log: Logger;
  /** agent.json polling interval (tests use a short one). */
  configIntervalMs?: number;
  /** The fleet in force (context windows, escalation chain); default: nodes.json in `home`, followed. */
  fleet?: () => FleetConfig;
}

interface SessionState {
  sessionId: string;
  startedAt: string;
  model: string;
  workingDir: string;
  turns: number;
  waitingForApproval: boolean;
  ownerTokenId: string;
  controller: AbortController;
  done: Promise<void>;
}

const STOP_WAIT_MS = 15_000;

export async function createAgentService(opts: AgentServiceOptions): Promise<AgentService> {
  const log = opts.log.child({ component: 'agent' });
  const config: ConfigWatcher<AgentConfig> = loadAgentConfig(opts.home, {
    intervalMs: opts.configIntervalMs,
    onChange: () => log.info('agent.json changed; new agent config in force'),
    onError: (message) =>
      log.warn({ file: 'agent.json' }, `agent.json refused, the last good config stays: ${message}`),
  });
  const startRoot = sandboxRootOf(config.current(), opts.home);
  mkdirSync(startRoot, { recursive: true, mode: 0o700 });
  const isolation: Isolation = detectIsolation({
    mode: config.current().isolation,
    network: config.current().network,
    sandboxRoot: startRoot,
    handoffHome: opts.home,
  });
  log.info({ isolation: isolation.level, detail: isolation.detail, sandboxRoot: startRoot }, 'agent sandbox ready');
  // Said at every start: commands that run weaker than a sandbox (or not at all) must not go unnoticed.
  if (isolation.warning) log.warn({ isolation: isolation.level }, `agent sandbox: ${isolation.warning}`);

  let guard: ExecGuard | null = null;
  let guardError: string | null = null;
  let guardRules: ConfigWatcher<GuardFile> | null = null;
  try {
    // guard.json in $HANDOFF_HOME adds rules to the built-in ones and is followed while we run.
    const rules = loadGuardRules(opts.home, {
      intervalMs: opts.configIntervalMs,
      onChange: () => log.info('guard.json changed; new guard rules in force'),
      onError: (message) =>
        log.warn({ file: 'guard.json' }, `guard.json refused, the last good rules stay: ${message}`),
    });
    guardRules = rules;
    guard = await createExecGuard({ rules: () => rules.current() });
  } catch (err) {
    guardError = (err as Error).message;
    log.error({ err }, 'the exec guard failed to load; every bash command will be denied');
  }

  const approvals = createCommandApprovals(opts.db);
  const audit = createAgentAudit({ db: opts.db, home: opts.home, log });
  const sessions = new Map<string, SessionState>();
  const store = createSessionStore(opts.db);
  let ownFleet: ConfigWatcher<FleetConfig> | null = null;
  const fleet =
    opts.fleet ??
    (() => {
      ownFleet ??= loadFleet(opts.home, { intervalMs: opts.configIntervalMs });
      return ownFleet.current();
    });
  // One coordinator runs a database's sessions: any still `running` lost theirs when it stopped.
  const interrupted = await store.interruptRunning();
  if (interrupted.length > 0)
    log.warn(
      { sessions: interrupted },
      `${interrupted.length} agent session(s) were running when the coordinator stopped; now interrupted (handoff agent resume ID)`,
    );

  const rootNow = (): string => {
    const root = sandboxRootOf(config.current(), opts.home);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    return root;
  };

  const service: AgentService = {
    approvals,
    audit,

    prepare(body, caller) {
      const cfg = config.current();
      const root = new Sandbox(rootNow());
      let workingDir = root.root;
      if (body.workingDir !== undefined) {
        try {
          workingDir = root.resolve(body.workingDir);
        } catch (err) {
          if (err instanceof SandboxError)
            throw new AgentInputError('outside_sandbox', 'body.workingDir', `workingDir ${err.message}`);
          throw err;
        }
        try {
          mkdirSync(workingDir, { recursive: true });
        } catch (err) {
          throw new AgentInputError(
            'validation_failed',
            'body.workingDir',
            `workingDir ${body.workingDir} cannot be created: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          );
        }
        if (!statSync(workingDir).isDirectory())
          throw new AgentInputError(
            'validation_failed',
            'body.workingDir',
            `workingDir ${body.workingDir} is not a directory`,
          );
        // mkdir followed no symlink out (resolve() checked the existing part), but check the result too.
        workingDir = new Sandbox(workingDir).root;
        if (!workingDir.startsWith(root.root))
          throw new AgentInputError(
            'outside_sandbox',
            'body.workingDir',
            `workingDir ${body.workingDir} is outside the sandbox ${root.root}`,
          );
      }
      const model = body.model ?? cfg.model ?? opts.router.models().data[0]?.id;
      if (!model)
        throw new AgentInputError(
          'bad_request',
          'body.model',
          'no model: name one in the request or in agent.json, or add a node to nodes.json',
        );
      return {
        task: body.task,
        workingDir,
        model,
        maxTurns: Math.min(body.maxTurns ?? cfg.maxTurns, cfg.maxTurns),
        caller,
      };
    },

    async prepareResume(sessionId, caller) {
      const claimed = await store.claimForResume(sessionId, caller);
      if (!claimed.ok) {
        if (claimed.state === null) throw new SessionStateError(404, `no agent session ${sessionId}`);
        throw new SessionStateError(
          409,
          `agent session ${sessionId} is ${claimed.state}; only an interrupted, stopped or failed session can be resumed`,
        );
      }
      const s = claimed.session;
      mkdirSync(s.workingDir, { recursive: true });
      return {
        task: s.task,
        workingDir: s.workingDir,
        model: s.model,
        maxTurns: Math.min(s.maxTurns, config.current().maxTurns),
        caller,
        resumed: {
          sessionId: s.id,
          actor: s.actor,
          ownerTokenId: s.ownerTokenId,
          currentModel: s.currentModel,
          entries: await store.entries(s.id),
          usage: s.usage,
        },
      };
    },

    sessions: (query, caller) => store.list(query, caller),
    session: (sessionId, caller) => store.detail(sessionId, caller),

    start(run, sink) {
      const cfg = config.current();
      const sessionId = run.resumed?.sessionId ?? randomUUID();
      const actor = run.resumed?.actor ?? actorOf(run.caller);
      const ownerTokenId = run.resumed?.ownerTokenId ?? run.caller.tokenId;
      const controller = new AbortController();
      let seq = 0;
      let ended = false;
      const state: SessionState = {
        sessionId,
        startedAt: new Date().toISOString(),
        model: run.model,
        workingDir: run.workingDir,
        turns: 0,
        waitingForApproval: false,
        ownerTokenId,
        controller,
        done: Promise.resolve(),
      };
      // The session row first, then its events in order; a failed write is logged, never thrown at the run.
      let writes: Promise<void> = run.resumed
        ? Promise.resolve()
        : store.create({
            id: sessionId,
            task: run.task,
            model: run.model,
            workingDir: run.workingDir,
            maxTurns: run.maxTurns,
            actor,
            ownerTokenId,
          });
      const record = (body: AgentEventBody): void => {
        writes = writes
          .then(() => store.recordEvent(sessionId, body))
          .catch((err: unknown) => log.error({ err, sessionId }, 'agent session: cannot store an event'));
      };
      const emit = (body: AgentEventBody): void => {
        if (ended) return;
        record(body);
        if (body.type === 'approval_required') state.waitingForApproval = true;
        if (body.type === 'blocked' || body.type === 'tool_result') state.waitingForApproval = false;
        if (body.type === 'done' || body.type === 'error') ended = true;
        seq += 1;
        try {
          sink({ ...body, sessionId, seq, ts: new Date().toISOString() } as AgentEvent);
        } catch (err) {
          log.warn({ err, sessionId }, 'agent event sink failed');
        }
      };
      sessions.set(sessionId, state);
      log.info(
        {
          sessionId,
          model: run.model,
          workingDir: run.workingDir,
          actor,
          tokenName: run.caller.name,
          resumed: !!run.resumed,
        },
        run.resumed ? 'agent run resumed' : 'agent run started',
      );
      emit({
        type: 'session_started',
        task: run.task,
        workingDir: run.workingDir,
        model: run.model,
        maxTurns: run.maxTurns,
        isolation: isolation.level,
      });

      state.done = (async () => {
        let outcome: SessionOutcome | null = null;
        try {
          // Nothing runs before the session row exists: every later write refers to it.
          await writes;
          outcome = await runSession({
            sessionId,
            task: run.task,
            model: run.model,
            router: opts.router,
            limits: {
              maxTurns: run.maxTurns,
              tokenBudget: cfg.tokenBudget,
              modelTimeoutMs: cfg.modelTimeoutMs,
              maxCompletionTokens: cfg.maxCompletionTokens,
            },
            audit,
            signal: controller.signal,
            emit,
            onTurn: (turns) => (state.turns = turns),
            fleet,
            context: cfg.context,
            recorder: store.recorder(sessionId),
            ...(run.resumed
              ? { resume: { entries: run.resumed.entries, usage: run.resumed.usage, model: run.resumed.currentModel } }
              : {}),
            toolContext: {
              sessionId,
              sandbox: new Sandbox(run.workingDir),
              guard,
              approvals,
              approverAvailable: cfg.approvals.enabled,
              intents: opts.intents,
              actor,
              isolation,
              handoffHome: opts.home,
              bash: cfg.bash,
              approvalTimeoutMs: cfg.approvals.timeoutMs,
              approvalPollMs: cfg.approvals.pollMs,
            },
          });
        } catch (err) {
          log.error({ err, sessionId }, 'agent run failed');
        } finally {
          await audit.flush();
          await writes;
          await store
            .finish(sessionId, finalState(outcome), {
              ...(outcome?.type === 'done' ? { summary: outcome.summary } : {}),
              ...(outcome?.type === 'error' ? { errorCode: outcome.code, errorMessage: outcome.message } : {}),
              ...(outcome === null ? { errorCode: 'internal', errorMessage: 'the run failed; see the log' } : {}),
            })
            .catch((err: unknown) => log.error({ err, sessionId }, 'agent session: cannot store its end'));
          sessions.delete(sessionId);
          log.info({ sessionId, turns: state.turns }, 'agent run ended');
        }
      })();

      return {
        sessionId,
        done: state.done,
        abort: (code) => {
          const message =
            code === 'client_gone'
              ? 'the client disconnected'
              : code === 'shutdown'
                ? 'the coordinator is shutting down'
                : 'the run was stopped';
          if (!controller.signal.aborted) controller.abort(new StopError(code, message));
        },
      };
    },

    async stop(sessionId, caller) {
      const state = sessions.get(sessionId);
      if (!state) return false;
      if (caller.role !== 'operator' && state.ownerTokenId !== caller.tokenId) return false;
      if (!state.controller.signal.aborted) state.controller.abort(new StopError('stopped', 'the run was stopped'));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([state.done, new Promise<void>((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
      clearTimeout(timer);
      return true;
    },

    health() {
      const nodes = opts.router.nodes();
      const healthy = nodes.filter((n) => n.state === 'healthy' && n.breaker !== 'open');
      return {
        activeSessions: [...sessions.values()].map((s) => ({
          sessionId: s.sessionId,
          startedAt: s.startedAt,
          model: s.model,
          workingDir: s.workingDir,
          turns: s.turns,
          waitingForApproval: s.waitingForApproval,
        })),
        sandboxRoot: sandboxRootOf(config.current(), opts.home),
        isolation: isolation.level,
        isolationDetail: isolation.detail,
        isolationWarning: isolation.warning,
        guardReady: guard !== null,
        guardError,
        router: {
          reachable: healthy.length > 0,
          fleetSize: nodes.length,
          healthyNodes: healthy.length,
          models: opts.router.models().data.map((m) => m.id),
        },
        config: config.current() as unknown as Record<string, unknown>,
      };
    },

    async close() {
      for (const s of sessions.values()) {
        if (!s.controller.signal.aborted)
          s.controller.abort(new StopError('shutdown', 'the coordinator is shutting down'));
      }
      await Promise.all([...sessions.values()].map((s) => s.done));
      await audit.flush();
      config.close();
      guardRules?.close();
      ownFleet?.close();
    },
  };
  return service;
}

/** The stored state a run's end leaves: a shutdown can be taken up again, like a stop or a failure. */
function finalState(outcome: SessionOutcome | null): Exclude<AgentSessionState, 'running'> {
  if (!outcome) return 'failed';
  if (outcome.type === 'done') return 'done';
  if (outcome.code === 'shutdown') return 'interrupted';
  if (outcome.code === 'stopped' || outcome.code === 'client_gone') return 'stopped';
  return 'failed';
}
