import { z } from 'zod';
import { runInProcessGroup } from '../processGroup.ts';
import { defineTool } from './tool.ts';
import type { ToolContext, ToolOutcome } from './tool.ts';

/** The only environment a command sees: no secrets, no DATABASE_URL, no HANDOFF_*. */
export function scrubbedEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: process.env.LANG || 'C.UTF-8',
    TERM: 'dumb',
  };
}

/** Asks the guard, and a person when the guard says `ask`. Returns null to run, else the blocked outcome. */
async function checkCommand(
  command: string,
  ctx: ToolContext,
): Promise<{ decision: string; blocked: ToolOutcome | null }> {
  const cwd = ctx.sandbox.root;
  if (!ctx.guard) {
    ctx.emit({
      type: 'blocked',
      toolCallId: ctx.toolCallId,
      command,
      decision: 'deny',
      rule: 'guard.unavailable',
      reason: 'the exec guard failed to load; every command is denied',
    });
    return {
      decision: 'deny',
      blocked: {
        ok: false,
        blocked: true,
        decision: 'deny',
        output: 'blocked: the exec guard is unavailable, so no command can run',
      },
    };
  }
  let verdict;
  try {
    // Without an OS sandbox the guard allows only commands it can show harmless (docs/guard.md).
    const isolated = ctx.isolation.level !== 'none';
    verdict = await ctx.guard.check(command, {
      cwd,
      sandboxRoot: ctx.sandbox.root,
      handoffHome: ctx.handoffHome,
      approverAvailable: ctx.approverAvailable,
      isolated,
    });
  } catch (err) {
    verdict = {
      decision: 'deny' as const,
      rule: 'guard.error',
      reason: `the exec guard failed: ${(err as Error).message}`,
    };
  }
  if (verdict.decision === 'allow') return { decision: 'allow', blocked: null };
  if (verdict.decision === 'deny' || !ctx.approverAvailable) {
    ctx.emit({
      type: 'blocked',
      toolCallId: ctx.toolCallId,
      command,
      decision: 'deny',
      rule: verdict.rule,
      reason: verdict.reason,
    });
    return {
      decision: 'deny',
      blocked: {
        ok: false,
        blocked: true,
        decision: 'deny',
        output: `blocked by the exec guard (${verdict.rule}): ${verdict.reason}. Do not retry this command; find another way or stop.`,
      },
    };
  }
  const approval = await ctx.approvals.request({
    sessionId: ctx.sessionId,
    command,
    cwd,
    rule: verdict.rule,
    reason: verdict.reason,
    timeoutMs: ctx.approvalTimeoutMs,
  });
  ctx.emit({
    type: 'approval_required',
    toolCallId: ctx.toolCallId,
    approvalId: approval.id,
    command,
    cwd,
    rule: verdict.rule,
    reason: verdict.reason,
    expiresAt: approval.expiresAt,
  });
  const final = await ctx.approvals.wait(approval.id, { pollMs: ctx.approvalPollMs, signal: ctx.signal });
  if (final.state === 'approved' && final.commandHash === approval.commandHash)
    return { decision: 'approved', blocked: null };
  const decision = final.state === 'rejected' ? 'rejected' : 'expired';
  const why = final.decisionReason ?? (decision === 'rejected' ? 'rejected by a person' : 'nobody approved it in time');
  ctx.emit({
    type: 'blocked',
    toolCallId: ctx.toolCallId,
    command,
    decision,
    rule: verdict.rule,
    reason: why,
    approvalId: approval.id,
  });
  return {
    decision,
    blocked: {
      ok: false,
      blocked: true,
      decision,
      output: `blocked: the command needed approval (${verdict.rule}: ${verdict.reason}) and was ${decision}: ${why}`,
    },
  };
}

export const bashTool = defineTool({
  name: 'bash',
  description:
    'Run a bash command in the sandbox directory (the working directory; HOME is the sandbox too). ' +
    'Every command is checked by an exec guard first and may be denied or need a person to approve it. ' +
    'Network is usually off. Output (stdout and stderr together) is capped; long output keeps its head and tail.',
  args: z.strictObject({
    command: z.string().min(1).max(100_000).describe('the bash command line'),
    timeout_ms: z.int().min(1).optional().describe('timeout in milliseconds; may only lower the default'),
  }),
  async run(args, ctx) {
    const check = await checkCommand(args.command, ctx);
    if (check.blocked) return check.blocked;
    const timeoutMs = Math.min(args.timeout_ms ?? ctx.bash.timeoutMs, ctx.bash.timeoutMs);
    const result = await runInProcessGroup({
      invocation: ctx.isolation.wrap({
        command: args.command,
        cwd: ctx.sandbox.root,
        sandboxRoot: ctx.sandbox.root,
        handoffHome: ctx.handoffHome,
      }),
      cwd: ctx.sandbox.root,
      env: scrubbedEnv(ctx.sandbox.root),
      timeoutMs,
      outputLimitBytes: ctx.bash.outputLimitBytes,
      killGraceMs: ctx.bash.killGraceMs,
      signal: ctx.signal,
    });
    const status = result.aborted
      ? 'stopped: the run was stopped and the command killed'
      : result.timedOut
        ? `timed out after ${timeoutMs} ms; the command was killed`
        : result.exitCode !== null
          ? `exit code ${result.exitCode}`
          : `killed by ${result.signal}`;
    const truncated =
      result.truncatedBytes > 0 ? ` (output truncated: ${result.truncatedBytes} bytes cut from the middle)` : '';
    return {
      ok: result.exitCode === 0 && !result.timedOut && !result.aborted,
      exitCode: result.exitCode,
      decision: result.aborted ? 'stopped' : check.decision,
      output: `${result.output}${result.output.endsWith('\n') || result.output === '' ? '' : '\n'}[${status}${truncated}]`,
    };
  },
});
