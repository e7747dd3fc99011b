// Where the serve token comes from. argv is readable by every user of the machine (`ps`),
// so the token is read from a file (--token-file, mode 0600 advised) or CXRTUNE_TOKEN;
// --token still works but says why it should not be used.
import { readFileSync, statSync } from 'node:fs';

interface TokenSources {
  token?: string;
  tokenFile?: string;
  env?: string;
}

export function resolveToken(s: TokenSources, warn: (line: string) => void = () => undefined): string | undefined {
  const given = [s.token !== undefined, s.tokenFile !== undefined].filter(Boolean).length;
  if (given > 1) throw new Error('give the token once: --token-file FILE or CXRTUNE_TOKEN (not also --token)');
  if (s.tokenFile !== undefined) return readTokenFile(s.tokenFile, warn);
  if (s.token !== undefined) {
    warn(
      'warning: --token is visible to every user of this machine in the process list; use --token-file FILE ' +
        'or CXRTUNE_TOKEN',
    );
    return s.token;
  }
  return s.env ? s.env : undefined;
}

function readTokenFile(file: string, warn: (line: string) => void): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  // Group/other permission bits: others on the machine could read it.
  if ((statSync(file).mode & 0o077) !== 0)
    warn(`warning: the token file ${file} is readable by other users (chmod 600 ${file})`);
  const token = text.trim();
  if (!token) throw new Error(`the token file ${file} is empty`);
  if (token.includes('\n')) throw new Error(`the token file ${file} must hold one line (the token)`);
  return token;
}
