// Access control by one bearer token (RFC 6750): the check every front (HTTP, the WebSocket
// upgrade, gRPC metadata) calls with the Authorization value it received. Compared in constant
// time; the token is never logged, and neither is a header that carries it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ParmError } from '../errors.js';

/** The environment variable `parm serve` reads the token from when there is no --auth-token-file. */
export const AUTH_TOKEN_ENV = 'PARM_AUTH_TOKEN';

/** What a client without the right token is told, on every transport (never the token itself). */
export const UNAUTHORIZED_MESSAGE = 'missing or invalid bearer token: send Authorization: Bearer <token>';

/** Paths served without a token: liveness and readiness probes. */
const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/v2/health/live', '/v2/health/ready']);

export function isPublicPath(url: string): boolean {
  return PUBLIC_PATHS.has(url);
}

/** Whether an Authorization header value (or gRPC `authorization` metadata) carries the token. */
export type BearerCheck = (headerValue: string | undefined) => boolean;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** RFC 6750 b64token: the characters a bearer token may have. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The check for `token`: `Bearer <token>`, the scheme in any case (RFC 9110 §11.1). Both sides are
 * hashed first, so timingSafeEqual compares equal-length buffers whatever was sent, and the time
 * taken says nothing about the token.
 */
export function bearerCheck(token: string): BearerCheck {
  if (!B64TOKEN.test(token)) throw new ParmError('PARM_ERR_SERVER_CONFIG', 'the auth token must be RFC 6750 token characters (A-Z a-z 0-9 - . _ ~ + /, then = padding)');
  const want = digest(token);
  return (headerValue) => {
    const m = /^Bearer +(\S+) *$/i.exec(headerValue ?? '');
    const same = timingSafeEqual(digest(m?.[1] ?? ''), want);
    return m !== null && same;
  };
}

/** The token in a file (surrounding whitespace, such as the trailing newline, removed). Errors never quote it. */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ParmError('PARM_ERR_CLI_USAGE', `--auth-token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'cannot read it'}`);
  }
  const token = text.trim();
  if (token === '') throw new ParmError('PARM_ERR_CLI_USAGE', `--auth-token-file ${file}: the file is empty`);
  if (!B64TOKEN.test(token)) throw new ParmError('PARM_ERR_CLI_USAGE', `--auth-token-file ${file}: the token must be RFC 6750 token characters (A-Z a-z 0-9 - . _ ~ + /, then = padding)`);
  return token;
}
