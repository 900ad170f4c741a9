import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { parseText } from '../args.ts';
import { LOGIN_CA_FILE, handoffHome, writeCliConfig } from '../config.ts';
import { out } from '../context.ts';
import { CliError, UsageError } from '../errors.ts';
import { CoordinatorHttp } from '../http.ts';

/**
 * `handoff login URL --token T`: remembers a remote coordinator for the commands that follow, in
 * $HANDOFF_HOME/cli.json (0600). For https, the CA is pinned: the coordinator sends it in the TLS
 * handshake, and it is trusted only when its SHA-256 fingerprint is the one given with
 * --fingerprint (the coordinator's `start --listen` prints it), or when it is read from a file
 * given with --ca. Trust on first use is never silent: without either, login prints the
 * fingerprint it saw and stores nothing (decision 82).
 */

interface LoginOptions {
  token: string;
  fingerprint?: string;
  ca?: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`not a URL: ${raw}`);
  }
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) {
    throw new UsageError(`${raw}: a token goes to another machine over https:// only (start it with --listen)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${raw}: must start with https:// (or http:// for 127.0.0.1)`);
  }
  return url;
}

function caFromFile(file: string): { pem: string; fingerprint: string } {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--ca: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const cert = new X509Certificate(pem);
    return { pem: cert.toString(), fingerprint: cert.fingerprint256 };
  } catch {
    throw new UsageError(`--ca: ${file} holds no PEM certificate`);
  }
}

async function pinnedCa(url: URL, options: LoginOptions): Promise<{ pem: string; fingerprint: string }> {
  const { fetchPeerCa, fingerprint, normaliseFingerprint } = await import('@handoff/tls');
  const wanted = options.fingerprint === undefined ? undefined : normaliseFingerprint(options.fingerprint);
  if (options.fingerprint !== undefined && wanted === undefined) {
    throw new UsageError('--fingerprint: must be a SHA-256 fingerprint, 64 hex digits (colons optional)');
  }
  if (options.ca !== undefined) {
    const fromFile = caFromFile(options.ca);
    if (wanted !== undefined && wanted !== fromFile.fingerprint) {
      throw new CliError(`--ca ${options.ca} has fingerprint ${fromFile.fingerprint}, not the --fingerprint given`);
    }
    return fromFile;
  }
  let pem: string;
  try {
    pem = await fetchPeerCa(url);
  } catch (err) {
    throw new CliError(`cannot read the CA of ${url.origin}: ${(err as Error).message}`);
  }
  const seen = fingerprint(pem);
  if (wanted === undefined) {
    throw new UsageError(
      `${url.origin} presents a CA with SHA-256 fingerprint ${seen}. Compare it with the one its operator sees ` +
        `(handoff start --listen prints it), then run again with --fingerprint ${seen}; or give its file with --ca. Nothing was stored.`,
    );
  }
  if (wanted !== seen) {
    throw new CliError(
      `${url.origin} presents a CA with fingerprint ${seen}, not ${wanted}: someone may be in between, or the coordinator's CA was made again. Nothing was stored.`,
    );
  }
  return { pem, fingerprint: seen };
}

export function registerLoginCommand(program: Command): void {
  program
    .command('login')
    .description('remember a remote coordinator (its URL, a token, its pinned CA) for the commands that follow')
    .argument('<url>', 'the coordinator, e.g. https://10.0.0.5:18800')
    .requiredOption('--token <token>', 'an API token of that coordinator (handoff token create)', parseText)
    .addOption(new Option('--fingerprint <sha256>', "the SHA-256 fingerprint of the coordinator's CA, to pin it"))
    .addOption(new Option('--ca <file>', "the coordinator's CA as a PEM file (instead of --fingerprint)"))
    .action(async (rawUrl: string, options: LoginOptions) => {
      const url = parseUrl(rawUrl);
      const baseUrl = url.toString().replace(/\/+$/, '');
      const ca = url.protocol === 'https:' ? await pinnedCa(url, options) : undefined;
      // The token and the pinned CA must work together before anything is stored.
      const http = new CoordinatorHttp({ baseUrl, token: options.token, ...(ca ? { ca: ca.pem } : {}) });
      await http.call('GET', '/v1/channels');
      const caFile = ca ? join(handoffHome(), LOGIN_CA_FILE) : undefined;
      const file = writeCliConfig(
        { url: baseUrl, token: options.token, ...(ca && caFile ? { ca: caFile, caFingerprint: ca.fingerprint } : {}) },
        ca?.pem,
      );
      out(`Logged in to ${baseUrl}${ca ? ` (CA pinned, SHA-256 ${ca.fingerprint})` : ''}; saved in ${file}.`);
      out('Commands use it while HANDOFF_URL is unset (or names the same coordinator).');
    });
}
