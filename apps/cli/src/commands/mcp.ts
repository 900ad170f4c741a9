import type { Command } from 'commander';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createHandoffMcpServer, createHttpBackend, holdsOperatorToken } from '@handoff/mcp';
import cliPackage from '../../package.json' with { type: 'json' };
import { apiToken, coordinatorCaFile, coordinatorUrl } from '../config.ts';

/**
 * `handoff mcp`: handoff's MCP tools over stdio, for desktop agents (Claude Code, Claude Desktop,
 * Cursor, Codex). The tools call the coordinator at HANDOFF_URL with HANDOFF_TOKEN (give it an
 * `agent` token; without one the CLI's usual $HANDOFF_HOME/operator.token is used) and trust the
 * CA in HANDOFF_CA (else the one `handoff login` pinned) for an https URL. stdout carries only the protocol; problems go to stderr.
 */
export function registerMcpCommand(program: Command): void {
  program
    .command('mcp')
    .description('serve the MCP tools propose_intent, intent_status, wait_for_intent and list_channels over stdio')
    .action(async () => {
      const caFile = coordinatorCaFile();
      const backend = createHttpBackend({
        baseUrl: coordinatorUrl(),
        token: apiToken(),
        ...(caFile ? { caFile } : {}),
      });
      const server = createHandoffMcpServer({
        backend,
        version: cliPackage.version,
        onUnexpectedError: (err, tool) =>
          process.stderr.write(`handoff mcp: tool ${tool} failed: ${(err as Error).message ?? String(err)}\n`),
      });
      const transport = new StdioServerTransport();
      const closed = new Promise<void>((resolve) => {
        transport.onclose = resolve;
        process.stdin.once('end', resolve);
      });
      await server.connect(transport);
      // stderr, never stdout (the protocol's): an agent should not hold an operator token
      holdsOperatorToken(backend)
        .then((operator) => {
          if (operator)
            process.stderr.write(
              'handoff mcp: this is an operator token, which may approve what the agent proposes; give agents an agent token (handoff token create --role agent) in HANDOFF_TOKEN\n',
            );
        })
        .catch(() => undefined);
      await closed;
      await server.close();
    });
}
