export { createRotatingFile, DEFAULT_KEEP, DEFAULT_MAX_BYTES } from './rotatingFile.ts';
export type { RotatingFile, RotatingFileOptions } from './rotatingFile.ts';
