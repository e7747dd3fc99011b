// A readable message for anything thrown. Libraries throw strings and plain objects too
// (dicom-parser throws {exception, dataSet}); String() of those printed "[object Object]"
// to users and into the audit log.
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    for (const k of ['message', 'exception', 'error', 'reason']) {
      if (typeof o[k] === 'string' && o[k]) return o[k] as string;
    }
    try {
      const json = JSON.stringify(e, (_k, v) => (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 20 ? '[object]' : v));
      if (json && json !== '{}') return json.length > 200 ? json.slice(0, 200) + '…' : json;
    } catch {
      // cyclic: fall through
    }
    return Object.prototype.toString.call(e);
  }
  return String(e);
}
