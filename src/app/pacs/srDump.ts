// A readable dump of a DICOM SR: the header attributes (keyword = value) and the content
// tree, one item per line, indented by depth, as "RELATIONSHIP TYPE (code, scheme, "meaning") = value".
import dcmjs from 'dcmjs';
import type { Dataset } from './dicomFile.js';

const tagOf = (keyword: string) => dcmjs.data.DicomMetaDictionary.nameMap[keyword]?.tag ?? '(????,????)';

const first = (v: unknown): Dataset | undefined => (Array.isArray(v) ? v[0] : v) as Dataset | undefined;
const codeText = (c: Dataset | undefined) =>
  c ? `(${c.CodeValue}, ${c.CodingSchemeDesignator}, "${c.CodeMeaning}")` : '(no concept name)';

function valueText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (v instanceof ArrayBuffer) return `<${v.byteLength} bytes>`;
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x instanceof ArrayBuffer))
      return `<${v.reduce((a, x: ArrayBuffer) => a + x.byteLength, 0)} bytes>`;
    return v
      .map((x) =>
        typeof x === 'object' && x && 'Alphabetic' in x ? (x as { Alphabetic: string }).Alphabetic : String(x),
      )
      .join('\\');
  }
  if (typeof v === 'object' && 'Alphabetic' in (v as object)) return (v as { Alphabetic: string }).Alphabetic;
  return String(v);
}

function itemValue(it: Dataset): string {
  switch (it.ValueType) {
    case 'TEXT':
      return `"${it.TextValue}"`;
    case 'UIDREF':
      return String(it.UID);
    case 'CODE':
      return codeText(first(it.ConceptCodeSequence));
    case 'NUM': {
      const mv = first(it.MeasuredValueSequence);
      if (!mv) return '(no value)';
      return (
        `${valueText(mv.NumericValue)} [FD ${valueText(mv.FloatingPointValue)}] ` +
        `${codeText(first(mv.MeasurementUnitsCodeSequence))}`
      );
    }
    case 'IMAGE': {
      const r = first(it.ReferencedSOPSequence);
      return r ? `SOP class ${r.ReferencedSOPClassUID}, instance ${r.ReferencedSOPInstanceUID}` : '(no reference)';
    }
    case 'CONTAINER':
      return `[${it.ContinuityOfContent ?? ''}]`;
    default:
      return '';
  }
}

function tree(items: Dataset[], depth: number, out: string[]): void {
  for (const it of items) {
    out.push(
      `${'  '.repeat(depth)}${it.RelationshipType ? `${it.RelationshipType} ` : ''}${it.ValueType} ` +
        `${codeText(first(it.ConceptNameCodeSequence))} = ${itemValue(it)}`,
    );
    const kids = it.ContentSequence;
    if (kids) tree((Array.isArray(kids) ? kids : [kids]) as Dataset[], depth + 1, out);
  }
}

function attrs(ds: Dataset, depth: number, out: string[]): void {
  const entries = Object.entries(ds)
    .filter(([k]) => !k.startsWith('_') && k !== 'ContentSequence')
    .sort(([a], [b]) => tagOf(a).localeCompare(tagOf(b)));
  for (const [k, v] of entries) {
    const pad = '  '.repeat(depth);
    if (
      Array.isArray(v) &&
      v.length &&
      v.every((x) => typeof x === 'object' && x && !(x instanceof ArrayBuffer) && !('Alphabetic' in x))
    ) {
      out.push(`${pad}${tagOf(k)} ${k}:`);
      v.forEach((x, i) => {
        out.push(`${pad}  item ${i + 1}`);
        attrs(x as Dataset, depth + 2, out);
      });
    } else if (Array.isArray(v) && v.length === 0) {
      out.push(`${pad}${tagOf(k)} ${k}: (empty)`);
    } else {
      out.push(`${pad}${tagOf(k)} ${k} = ${valueText(v)}`);
    }
  }
}

export function dumpSr(ds: Dataset): string {
  const out = ['Attributes (the content tree follows):'];
  attrs(ds, 1, out);
  out.push('', 'Content tree:');
  out.push(`  CONTAINER ${codeText(first(ds.ConceptNameCodeSequence))} = [${ds.ContinuityOfContent ?? ''}]`);
  tree(
    (Array.isArray(ds.ContentSequence) ? ds.ContentSequence : [ds.ContentSequence]).filter(Boolean) as Dataset[],
    2,
    out,
  );
  return `${out.join('\n')}\n`;
}
