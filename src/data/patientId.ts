// Patient ids from file names, for sources that only encode the patient in the name.
// Getting this wrong puts one patient's follow-ups on both sides of a split.
import { basename, extname } from 'node:path';

type PatientIdRule = (fileName: string) => string | null;

const RULES: Record<string, { describe: string; rule: PatientIdRule }> = {
  kermany: {
    describe:
      'Kermany: person123_bacteria_45 → person123; IM-0115-0001 → IM-0115; NORMAL2-IM-1427-0001 → NORMAL2-IM-1427',
    rule: (name) => {
      const stem = basename(name, extname(name));
      const m = /^(person\d+)_/i.exec(stem) ?? /^((?:NORMAL\d+-)?IM-\d+)-\d+/i.exec(stem);
      return m ? m[1] : null;
    },
  },
  nih: {
    describe: 'NIH ChestX-ray8: 00001280_004.png → 00001280',
    rule: (name) => {
      const m = /^(\d{8})_\d+$/.exec(basename(name, extname(name)));
      return m ? m[1] : null;
    },
  },
  stem: {
    describe: 'the file name without extension (each image its own patient)',
    rule: (name) => basename(name, extname(name)),
  },
};

export const PATIENT_ID_RULES = Object.fromEntries(Object.entries(RULES).map(([k, v]) => [k, v.describe]));

/**
 * Resolve a rule by name (`kermany`, `nih`, `stem`) or a regex given as `regex:PATTERN`
 * (or `/PATTERN/`); the first capture group (else the whole match) is the id.
 */
export function patientIdRule(spec: string): PatientIdRule {
  if (RULES[spec]) return RULES[spec].rule;
  const src = spec.startsWith('regex:') ? spec.slice(6) : /^\/.*\/$/.test(spec) ? spec.slice(1, -1) : null;
  if (src === null) {
    throw new Error(`unknown patient-id rule '${spec}' (use ${Object.keys(RULES).join(', ')} or regex:PATTERN)`);
  }
  let re: RegExp;
  try {
    re = new RegExp(src);
  } catch (err) {
    throw new Error(`invalid patient-id regex '${src}': ${(err as Error).message}`);
  }
  return (name) => {
    const m = re.exec(basename(name));
    return m ? (m[1] ?? m[0]) : null;
  };
}
