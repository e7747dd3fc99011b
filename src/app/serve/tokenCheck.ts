// Bearer-token check in constant time (comparing digests hides the token's length too).
import { createHash, timingSafeEqual } from 'node:crypto';

/** Refuse tokens a person could guess. */
const MIN_TOKEN_LENGTH = 16;

export function tokenProblem(token: string): string | null {
  if (token.length < MIN_TOKEN_LENGTH)
    return `the token must be at least ${MIN_TOKEN_LENGTH} characters (e.g. \`openssl rand -hex 24\`)`;
  if (/\s/.test(token)) return 'the token must not contain whitespace';
  return null;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function makeTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const want = digest(token);
  return (authorization) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return !!m && timingSafeEqual(digest(m[1]!), want);
  };
}
