import { sql } from 'kysely';
import type { DoctorCheck } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { isMissingTable, line, missingTable } from './check.ts';

/** Model nodes the router has quarantined (router_node_state, migration 007). */
export async function modelNodeChecks(db: Db): Promise<DoctorCheck[]> {
  try {
    const { rows } = await sql<{ node_id: string; reason: string | null }>`
      SELECT node_id, reason FROM router_node_state WHERE quarantined ORDER BY node_id`.execute(db);
    if (rows.length === 0) return [line('model nodes', 'ok', 'no model node is quarantined')];
    return rows.map((r) =>
      line(
        `model node:${r.node_id}`,
        'warn',
        `quarantined by the router${r.reason ? `: ${r.reason}` : ''}`,
        'check the inference server on that node; the router reinstates it once its probe answers',
      ),
    );
  } catch (err) {
    if (isMissingTable(err)) return [missingTable('model nodes', 'router_node_state')];
    throw err;
  }
}
