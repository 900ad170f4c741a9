import { Command } from 'commander';
import cliPackage from '../package.json' with { type: 'json' };
import { registerAgentCommands } from './commands/agent.ts';
import { registerArchiveCommand } from './commands/archive.ts';
import { registerDoctorCommand } from './commands/doctor.ts';
import { registerGateCommands } from './commands/gates.ts';
import { registerGuardCommands } from './commands/guard.ts';
import { registerIntentCommands } from './commands/intents.ts';
import { registerLiveCommand } from './commands/live.ts';
import { registerLoginCommand } from './commands/login.ts';
import { registerMcpCommand } from './commands/mcp.ts';
import { registerNodeCommands } from './commands/nodes.ts';
import { registerRoleCommands } from './commands/roles.ts';
import { registerTokenCommands } from './commands/tokens.ts';
import { registerAuditCommand } from './commands/audit.ts';
import { registerBackupCommand } from './commands/backup.ts';
import { registerRestoreCommand } from './commands/restore.ts';
import { registerUsageCommand } from './commands/usage.ts';
import { jsonRequested } from './errors.ts';

const FOOTER = `
Environment:
  HANDOFF_URL          coordinator address (default http://127.0.0.1:18800)
  HANDOFF_TOKEN        API token; when unset, $HANDOFF_HOME/operator.token is used
  HANDOFF_HOME         config and state directory (default ~/.handoff)
  HANDOFF_CA           PEM file of the CA an https coordinator's certificate must chain to
  HANDOFF_PORT         port for start/coordinator (default 18800)
  HANDOFF_LISTEN       address for start/coordinator to serve HTTPS on (as --listen)
  HANDOFF_EXECUTOR_ID  executor id (default the host name)
  DATABASE_URL         Postgres; unset: an embedded Postgres under $HANDOFF_HOME/pg

Exit codes: 0 ok, 1 failure, 2 usage (guard check: 0 allow, 3 ask, 4 deny; doctor: 3 warn, 4 fail).
With --json, a failure is one JSON line on stderr: {"error":{"code","message"}}.
Reference: docs/cli.md`;

/** The `handoff` command tree. Errors are thrown (exitOverride), never exit the process from here. */
export function buildProgram(): Command {
  const program = new Command('handoff')
    .description('handoff: durable, idempotent, approved side effects. Operator CLI for the coordinator.')
    .version(cliPackage.version, '-V, --version')
    .exitOverride()
    // under --json a usage error is one JSON line and nothing else
    .showHelpAfterError(jsonRequested(process.argv) ? false : '(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
      outputError: (text, write) =>
        write(
          jsonRequested(process.argv)
            ? `${JSON.stringify({ error: { code: 'usage', message: text.replace(/^error: /, '').trim() } })}\n`
            : text.startsWith('error: ')
              ? `handoff: ${text.slice('error: '.length)}`
              : text,
        ),
    })
    .addHelpText('after', FOOTER);

  registerRoleCommands(program);
  registerIntentCommands(program);
  registerGateCommands(program);
  registerLiveCommand(program);
  registerTokenCommands(program);
  registerLoginCommand(program);
  registerNodeCommands(program);
  registerAuditCommand(program);
  registerUsageCommand(program);
  registerDoctorCommand(program);
  registerArchiveCommand(program);
  registerAgentCommands(program);
  registerGuardCommands(program);
  registerMcpCommand(program);
  registerBackupCommand(program);
  registerRestoreCommand(program);
  return program;
}
