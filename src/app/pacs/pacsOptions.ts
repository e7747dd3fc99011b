// Settings of the PACS link (`cxrtune serve --pacs URL`, `cxrtune pacs follow`).
export interface PacsOptions {
  /** Orthanc base URL (credentials may be in it); none: receive by STOW-RS only, keep results here. */
  url?: string;
  /** SQLite file of the worklist and retry queue (default worklist.sqlite). */
  worklist?: string;
  /** DICOMweb root on the Orthanc server (default /dicom-web). */
  dicomWebRoot?: string;
  /** How often to ask Orthanc for new instances, ms (default 250). */
  pollMs?: number;
  /** Instances worked on at once (default 4: lets the study queue batch the engine). */
  concurrency?: number;
  /** On the first start (no saved cursor), also screen what the PACS already holds (default: only new instances). */
  fromStart?: boolean;
  /** Longest wait between retries while the PACS is away, ms (default 30 s). */
  maxBackoffMs?: number;
}

export const PACS_DEFAULTS = {
  worklist: 'worklist.sqlite',
  dicomWebRoot: '/dicom-web',
  pollMs: 250,
  concurrency: 4,
  maxBackoffMs: 30_000,
} as const;
