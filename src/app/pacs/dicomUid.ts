// DICOM UIDs for what cxrtune writes, under the 2.25 root (ISO/IEC 9834-8: a UUID written
// as one decimal integer, so no registered organisation root is needed). Result UIDs are
// name-based (a UUIDv8 whose 122 free bits come from SHA-256 of the names: the source SOP
// Instance UID, the model's weights SHA-256 and the kind of object), so screening the same
// image with the same model twice yields the same UIDs: the PACS keeps one copy.
import { createHash, randomUUID } from 'node:crypto';

/** 2.25.<the UUID's 128 bits as a decimal integer>; at most 44 characters. */
export function uuidToUid(uuid: string): string {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return `2.25.${BigInt(`0x${hex}`).toString(10)}`;
}

/** A fresh random UID (UUIDv4). */
export function randomUid(): string {
  return uuidToUid(randomUUID());
}

/** The same names always give the same UID (UUIDv8 from SHA-256; version and variant bits set). */
export function nameUid(...names: string[]): string {
  const h = createHash('sha256')
    .update(`cxrtune-uid\0${names.join('\0')}`)
    .digest();
  h[6] = (h[6]! & 0x0f) | 0x80; // version 8 (custom)
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 9562 variant
  return uuidToUid(h.subarray(0, 16).toString('hex'));
}

/** Implementation Class UID of files cxrtune writes (file meta (0002,0012)). */
export const IMPLEMENTATION_CLASS_UID = nameUid('implementation', 'cxrtune');
