import { z } from 'zod';

/**
 * `handoff doctor` and `GET /v1/doctor`: each check is one line, ok / warn / fail, with what it
 * found and, unless ok, what to do. The CLI exits 0 when every line is ok, 3 with a warning,
 * 4 with a failure.
 */
export const DoctorStatus = z.enum(['ok', 'warn', 'fail']);
export type DoctorStatus = z.infer<typeof DoctorStatus>;

export const DoctorCheck = z.strictObject({
  /** A stable name for scripts: `database`, `migrations`, `executor:<id>`, `file:secrets.json`, ... */
  check: z.string().min(1),
  status: DoctorStatus,
  /** What it found, one sentence. */
  found: z.string(),
  /** What to do about it; empty when ok. */
  todo: z.string(),
});
export type DoctorCheck = z.infer<typeof DoctorCheck>;

export const DoctorReport = z.strictObject({
  generatedAt: z.iso.datetime({ offset: true }),
  /** The worst status of any check. */
  status: DoctorStatus,
  checks: z.array(DoctorCheck),
});
export type DoctorReport = z.infer<typeof DoctorReport>;

const RANK: Record<DoctorStatus, number> = { ok: 0, warn: 1, fail: 2 };

/** The worst of the statuses (ok for none). */
export function worstStatus(statuses: Iterable<DoctorStatus>): DoctorStatus {
  let worst: DoctorStatus = 'ok';
  for (const s of statuses) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
}
