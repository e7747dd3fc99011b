// One SQLite file the way cxrtune keeps them (audit log, worklist): created private (0600)
// before SQLite opens it, WAL so each insert costs microseconds on the event loop, schema
// applied; a failure names the file and what it is for.
import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errorMessage } from './errorMessage.js';

export function openSqliteFile(
  file: string,
  schema: string,
  what: string,
  migrate?: (db: Database.Database) => void,
): Database.Database {
  const path = file === ':memory:' ? file : resolve(file);
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true });
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  }
  try {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(schema);
    migrate?.(db);
    return db;
  } catch (e) {
    throw new Error(`cannot open the ${what} ${file}: ${errorMessage(e)}`);
  }
}
