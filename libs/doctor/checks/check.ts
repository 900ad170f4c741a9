import type { DoctorCheck, DoctorStatus } from '@handoff/contracts';

/** One check's line. `todo` is empty when the status is ok. */
export function line(check: string, status: DoctorStatus, found: string, todo = ''): DoctorCheck {
  return { check, status, found, todo: status === 'ok' ? '' : todo };
}

/** Postgres's "undefined_table": a check whose source table is missing says so instead of failing. */
export function isMissingTable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '42P01';
}

export function missingTable(check: string, table: string): DoctorCheck {
  return line(
    check,
    'warn',
    `the table ${table} does not exist in this database`,
    'start the coordinator of this version once (it applies the migrations), then run doctor again',
  );
}

/** "3 min", "2 h", "4 days": an age for a sentence. */
export function ageText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86_400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}
