export { startExecutor, type ExecutorOptions, type RunningExecutor } from './executor.ts';
export { CredentialsRefused, credentialsRefusal, EXIT_CREDENTIALS_REFUSED } from './credentialsRefused.ts';
export {
  createPipelineDeps,
  processTicket,
  runTicketBatch,
  type PipelineDeps,
  type PipelineOptions,
  type TicketBatch,
  type TicketOutcome,
} from './pipeline.ts';
export { createExecutorStore, type ExecutorStore, type Fence } from './store.ts';
export { createBatchedWrites, type BatchedWrites, type WriteStatements } from './batchedWrites.ts';
export { keepLease } from './leaseKeeper.ts';
export { BreakerRegistry, breakerKey } from './breakers.ts';
export { GateListener } from './gateListener.ts';
export { watchLocalGate, type LocalGate } from './localGate.ts';
export { backoffMs } from './backoff.ts';
export { heldKeys, loadSecrets, redactorOf, type Secrets } from './secrets.ts';
export { followFleetPolicy, intersectHosts, tighten, NO_HOST, type FleetPolicy } from './fleetPolicy.ts';
export {
  databaseSchemaVersion,
  expectedSchemaVersion,
  HANDOFF_VERSION,
  schemaMismatch,
  schemaVersionOf,
} from './versions.ts';
