import { Option } from 'commander';
import type { Command } from 'commander';
import type { DoctorCheck, DoctorReport, DoctorStatus } from '@handoff/contracts';
import { homeDoctor, toReport } from '@handoff/doctor';
import { handoffHome } from '../config.ts';
import { out, withClient } from '../context.ts';
import { describeError } from '../errors.ts';

/**
 * `handoff doctor`: the coordinator's checks (GET /v1/doctor: database, migrations, executors,
 * intents waiting for a person, model nodes, backups, WAL, its disk and files) and this machine's
 * own files (modes of the credential files, TLS certificates in $HANDOFF_HOME). One line each; the
 * exit code is the worst: 0 ok, 3 warn, 4 fail (1 and 2 keep their meaning: could not run, usage).
 */

export const DOCTOR_EXIT: Record<DoctorStatus, number> = { ok: 0, warn: 3, fail: 4 };

/** The coordinator out of reach is a finding, not a crash: the local checks still run and are shown. */
async function coordinatorChecks(): Promise<DoctorCheck[]> {
  try {
    return (await withClient((c) => c.doctor())).checks;
  } catch (error) {
    return [
      {
        check: 'coordinator',
        status: 'fail',
        found: describeError(error).line.replace(/^handoff: /, ''),
        todo: 'start it (`handoff start`, or the service), or point HANDOFF_URL and HANDOFF_TOKEN at it',
      },
    ];
  }
}

/** The coordinator's lines, then this machine's; a line both report (the same home) is shown once. */
export async function runDoctor(home: string = handoffHome()): Promise<DoctorReport> {
  const [remote, local] = await Promise.all([coordinatorChecks(), homeDoctor(home)]);
  const seen = new Set(remote.map((c) => `${c.check}\0${c.found}`));
  return toReport([...remote, ...local.filter((c) => !seen.has(`${c.check}\0${c.found}`))]);
}

export function renderDoctor(report: DoctorReport): string {
  const width = Math.min(28, Math.max(0, ...report.checks.map((c) => c.check.length)));
  const lines = report.checks.map(
    (c) => `${c.status.padEnd(4)}  ${c.check.padEnd(width)}  ${c.found}${c.todo ? `  -> ${c.todo}` : ''}`,
  );
  const warns = report.checks.filter((c) => c.status === 'warn').length;
  const fails = report.checks.filter((c) => c.status === 'fail').length;
  lines.push(
    '',
    report.status === 'ok'
      ? `all ${report.checks.length} checks ok`
      : `${fails} failed, ${warns} warned, ${report.checks.length - fails - warns} ok`,
  );
  return lines.join('\n');
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check the installation and say what to do: database, migrations, executors, backups, disk, file modes, TLS; exit 0 ok, 3 warn, 4 fail',
    )
    .addOption(new Option('--json', 'print the report as JSON ({generatedAt, status, checks})'))
    .action(async (options: { json?: boolean }) => {
      const report = await runDoctor();
      out(options.json ? JSON.stringify(report) : renderDoctor(report));
      process.exitCode = DOCTOR_EXIT[report.status];
    });
}
