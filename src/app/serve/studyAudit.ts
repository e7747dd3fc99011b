// What a screen request leaves for its audit row (the rest comes from the request/reply).
export interface StudyAuditInfo {
  sizeBytes?: number;
  imageSha256?: string;
  format?: string;
  probability?: number;
  label?: string;
  threshold?: number;
}
