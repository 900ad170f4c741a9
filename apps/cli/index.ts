/** The CLI as a library: tests and tools can build the command tree or reuse the renderers. */
export { main } from './src/main.ts';
export { buildProgram } from './src/program.ts';
export { CoordinatorClient } from './src/client.ts';
export { describeError } from './src/errors.ts';
export { renderLive } from './src/commands/live.ts';
export { renderIntent } from './src/commands/intents.ts';
