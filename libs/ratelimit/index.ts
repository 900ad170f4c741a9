export { configureBuckets, takeToken, takeOrQueue, drainUntil, readBuckets } from './tokenBucket.ts';
export type { Db, TakeResult, QueueResult } from './tokenBucket.ts';
